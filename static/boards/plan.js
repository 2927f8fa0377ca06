/* Plan pages: progressive touches, delegated so panels swapped in by a live
 * refresh work too. Copy and print buttons appear only where the browser can
 * do it (the links stay selectable without them); a link revoked or renewed
 * while the page is open says so here instead of the board's generic toast. */
(function () {
  "use strict";
  var PANELS = ["plan-panels", "follow-up-panels"];

  function reveal() {
    document.querySelectorAll("[data-copy]").forEach(function (button) { button.hidden = !navigator.clipboard; });
    document.querySelectorAll("[data-print]").forEach(function (button) { button.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", reveal);
  document.addEventListener("htmx:afterSettle", reveal);

  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      navigator.clipboard.writeText(copy.dataset.copy).then(function () {
        var toast = document.getElementById("toast");
        if (!toast) return;
        toast.textContent = copy.dataset.copied;
        toast.hidden = false;
        setTimeout(function () { toast.hidden = true; }, 3000);
      });
    }
    if (event.target.closest("[data-print]")) window.print();
  });

  document.body.addEventListener("htmx:responseError", function (event) {
    var gone = document.getElementById("link-gone");
    if (!gone || event.detail.xhr.status !== 404 || PANELS.indexOf(event.detail.elt.id) < 0) return;
    event.stopPropagation();
    gone.hidden = false;
  });
})();
