/* Buttons the phase or the lock closes: disabled for assistive technologies
 * too, with the reason.
 *
 * The board's CSS fades « Moi aussi » and « Proposer mon aide » from what
 * <body data-can-*> says the atelier allows (board.js keeps it in step with
 * the live #atelier-state). This keeps the controls themselves in step:
 * aria-disabled="true" and aria-describedby pointing at the visible reason
 * (#atelier-closed), on the page's cards and on every card pushed later. A
 * closed control stays focusable (so the reason can be heard) but does not
 * act; the server refuses it anyway.
 */
(function () {
  "use strict";

  var CONTROLS = [["canMeToo", ".metoo-btn"], ["canOffer", ".btn-help"]];
  var REASON = "atelier-closed";

  function apply() {
    var allowed = document.body.dataset;
    CONTROLS.forEach(function (rule) {
      if (!(rule[0] in allowed)) return;  // not a board: the server's markup stands
      var closed = allowed[rule[0]] === "false";
      document.querySelectorAll(rule[1]).forEach(function (control) {
        var marked = control.getAttribute("aria-disabled") === "true";
        if (closed && !marked) {
          control.setAttribute("aria-disabled", "true");
          control.setAttribute("aria-describedby", REASON);
        } else if (!closed && marked) {
          control.removeAttribute("aria-disabled");
          control.removeAttribute("aria-describedby");
        }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    apply();
    new MutationObserver(apply).observe(document.body, {
      attributes: true,
      attributeFilter: ["data-can-me-too", "data-can-offer"],
      childList: true,
      subtree: true
    });
  });

  // Captured before htmx sees the click: a closed control sends nothing.
  document.addEventListener("click", function (event) {
    var control = event.target.closest && event.target.closest('[aria-disabled="true"]');
    if (!control) return;
    event.preventDefault();
    event.stopPropagation();
  }, true);
})();
