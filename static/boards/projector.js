/* The projector's spotlight is never cut: when the impossible on screen and
 * its offers of help do not fit, the statement shrinks one step, then the
 * offers are shown a page at a time, each page as many as fit, turning every
 * PAGE_MS. Pages follow the clock, not a counter, so the panels the live
 * updates swap in (several a second in a busy room) show the same page.
 */
(function () {
  "use strict";

  var PAGE_MS = 8000;

  function overflows(box) {
    return box.scrollHeight > box.clientHeight + 1;
  }

  function paginate(box, items) {
    var pages = [];
    var start = 0;
    while (start < items.length) {
      var end = start;
      items.forEach(function (item, index) { item.hidden = index !== start; });
      while (end + 1 < items.length) {
        items[end + 1].hidden = false;
        if (overflows(box)) {
          items[end + 1].hidden = true;
          break;
        }
        end += 1;
      }
      pages.push([start, end]);
      start = end + 1;
    }
    return pages;
  }

  function showPage(box, items, label) {
    var pages = paginate(box, items);
    var page = pages[Math.floor(Date.now() / PAGE_MS) % pages.length];
    items.forEach(function (item, index) { item.hidden = index < page[0] || index > page[1]; });
    if (!label) return;
    label.textContent = label.dataset.label
      .replace("{first}", page[0] + 1)
      .replace("{last}", page[1] + 1)
      .replace("{total}", items.length);
    label.hidden = pages.length === 1;
  }

  /* Each step only when the previous one was not enough: shrink the
   * statement, page the offers, leave the details to the phones. */
  function fit(box) {
    var statement = box.querySelector(".p-spotlight-statement");
    var details = box.querySelector(".p-details");
    var list = box.querySelector(".p-offers");
    var items = list ? Array.prototype.slice.call(list.children) : [];
    var label = box.querySelector(".p-offers-pages");
    items.forEach(function (item) { item.hidden = false; });
    if (label) label.hidden = true;
    if (details) details.hidden = false;
    if (statement) statement.classList.remove("is-shrunk");
    if (!overflows(box)) return;
    if (statement) statement.classList.add("is-shrunk");
    if (!overflows(box)) return;
    if (items.length) {
      if (label) label.hidden = false;  // before measuring: it takes a line
      showPage(box, items, label);
    }
    if (details && overflows(box)) {
      details.hidden = true;
      if (items.length) showPage(box, items, label);
    }
  }

  function fitAll() {
    document.querySelectorAll("[data-fit]").forEach(fit);
  }

  document.addEventListener("DOMContentLoaded", function () {
    fitAll();
    setInterval(fitAll, 1000);
  });
  document.addEventListener("htmx:afterSettle", fitAll);
  window.addEventListener("resize", fitAll);
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(fitAll);
})();
