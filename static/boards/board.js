/* Live board: keeps this page in step with the atelier.
 *
 * Every push starts with <div id="live-version" data-version=N data-kind=...>.
 * Events must arrive as N = current + 1. An older one is a duplicate and is
 * dropped; a newer one means we missed something, so we drop it too and ask
 * the server for the whole board (a snapshot), which is always applied.
 * The same check runs on reconnect and on every ping, so a silently lost
 * message is caught within one ping interval.
 */
(function () {
  "use strict";

  var PING_MS = 25000;
  var MARKER = /id="live-version" data-version="(\d+)" data-kind="(\w+)"/;
  var socket = null;
  var pingTimer = null;
  var opened = false;
  var myMeToos = new Set();

  function byId(id) { return document.getElementById(id); }

  function currentVersion() {
    var marker = byId("live-version");
    return marker ? parseInt(marker.dataset.version, 10) : 0;
  }

  function setStatus(state) {
    var status = byId("live-status");
    if (!status) return;
    status.dataset.state = state;
    var label = status.dataset["label" + state.charAt(0).toUpperCase() + state.slice(1)];
    if (label) status.textContent = label;
  }

  function requestResync() {
    if (socket) socket.send(JSON.stringify({ type: "resync", version: currentVersion() }));
  }

  function ping() {
    if (socket) socket.send(JSON.stringify({ type: "ping", version: currentVersion() }));
  }

  /* Pushed fragments are shared by the whole room, so they cannot know
   * which "moi aussi" are mine: apply that here after every swap. */
  function applyMyMeToos(root) {
    (root || document).querySelectorAll(".metoo-btn[data-impossible]").forEach(function (button) {
      var on = myMeToos.has(parseInt(button.dataset.impossible, 10));
      button.setAttribute("aria-pressed", on ? "true" : "false");
      button.value = on ? "off" : "on";
    });
  }

  /* The server sorts and filters the page; pushed cards arrive unsorted. */
  function arrangeList() {
    var list = byId("impossible-list");
    if (!list) return;
    var category = list.dataset.category;
    var cards = Array.prototype.slice.call(list.querySelectorAll(":scope > .card"));
    cards.forEach(function (card) {
      card.hidden = Boolean(category) && card.dataset.category !== category;
    });
    if (list.dataset.sort === "top") {
      var count = function (card) {
        var el = card.querySelector(".count");
        return el ? parseInt(el.dataset.count, 10) : 0;
      };
      var sorted = cards.slice().sort(function (a, b) {
        return count(b) - count(a) || (b.dataset.created > a.dataset.created ? 1 : -1);
      });
      var changed = sorted.some(function (card, i) { return card !== cards[i]; });
      if (changed) sorted.forEach(function (card) { list.appendChild(card); });
    }
    var empty = cards.every(function (card) { return card.hidden; });
    list.classList.toggle("is-empty", empty);
  }

  function toast(text) {
    var box = byId("toast");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(function () { box.hidden = true; }, 5000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var mine = byId("my-me-toos");
    if (mine) JSON.parse(mine.textContent).forEach(function (id) { myMeToos.add(id); });
    arrangeList();
  });

  document.addEventListener("htmx:wsConnecting", function () {
    setStatus(opened ? "offline" : "connecting");
  });

  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    setStatus("online");
    if (opened) requestResync();  // back after a drop: catch up
    opened = true;
    clearInterval(pingTimer);
    pingTimer = setInterval(ping, PING_MS);
  });

  document.addEventListener("htmx:wsClose", function (event) {
    clearInterval(pingTimer);
    socket = null;
    var code = event.detail.event.code;
    // 4xxx: refused for good (not a member, foreign origin); htmx won't retry.
    setStatus(code >= 4000 && code < 5000 ? "refused" : "offline");
  });

  document.addEventListener("htmx:wsBeforeMessage", function (event) {
    var match = MARKER.exec(event.detail.message.slice(0, 200));
    if (!match) return;  // unversioned (presence count)
    var incoming = parseInt(match[1], 10);
    if (match[2] === "snapshot") return;
    var current = currentVersion();
    if (incoming <= current) {
      event.preventDefault();
    } else if (incoming > current + 1) {
      event.preventDefault();
      requestResync();
    }
  });

  document.addEventListener("htmx:wsAfterMessage", function () {
    applyMyMeToos();
    arrangeList();
  });

  document.addEventListener("cerveau:metoo", function (event) {
    var detail = event.detail;
    if (detail.on) myMeToos.add(detail.impossible); else myMeToos.delete(detail.impossible);
    applyMyMeToos();
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    applyMyMeToos(event.target);
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var messages = document.body.dataset;
    toast(status === 404 ? messages.msgGone : status === 403 ? messages.msgForbidden : messages.msgError);
  });

  document.addEventListener("htmx:sendError", function () {
    toast(document.body.dataset.msgOffline);
  });
})();
