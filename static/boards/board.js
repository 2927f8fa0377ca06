/* Live board: keeps this page in step with the atelier.
 *
 * Every push starts with <div id="live-version" data-version=N data-kind=...>.
 * Events must arrive as N = current + 1. An older one is a duplicate and is
 * dropped; a newer one means we missed something, so we drop it too and ask
 * the server for the whole board (a snapshot), which is always applied.
 * Every (re)connection carries the page's version, and every ping asks the
 * server for its version: if the page has not caught up a few seconds
 * later, a message was lost and the page asks for a snapshot.
 *
 * When the server says its live updates stopped (Redis away: live-layer
 * "down"), the page says so and pings more often, catching up from the
 * database, and says « En direct » again only once they resume ("up") and
 * it has asked for whatever it missed.
 *
 * The server beats every few seconds: a page that hears nothing for
 * SILENT_MS (or gets no answer to a ping) knows the connection died without
 * the browser noticing (a phone whose Wi-Fi lost its way out), says so and
 * opens a new one. When the browser says it went offline, the page says
 * « Hors ligne » at once. Back on the network or on screen, it checks at
 * once rather than at the next ping. « En direct » comes back only once the
 * page holds the server's version again (the resync is done).
 *
 * « En ligne : N » is shown only while live, from a count the socket
 * brought: the one rendered with the page predates this very connection.
 */
(function () {
  "use strict";

  /* The live protocol as boards/live/protocol.py names it (for_pages());
   * tests/test_live_protocol.py checks that the two agree. */
  var PROTOCOL = /* protocol */ {
    "ids": {
      "version": "live-version",
      "ping": "live-ping",
      "layer": "live-layer",
      "beat": "live-beat"
    },
    "kinds": {
      "page": "page",
      "event": "event",
      "snapshot": "snapshot"
    },
    "messages": {
      "ping": "ping",
      "resync": "resync"
    },
    "retried": [
      1006,
      1011,
      1012,
      1013
    ],
    "refusedFrom": 4000,
    "beatSeconds": 4,
    "silentSeconds": 9
  } /* /protocol */;
  var IDS = PROTOCOL.ids;
  var MARKER = new RegExp('id="' + IDS.version + '" data-version="(\\d+)" data-kind="(\\w+)"');
  var PING_REPLY = new RegExp('^<div id="' + IDS.ping + '" data-version="(\\d+)"');
  var LAYER = new RegExp('^<div id="' + IDS.layer + '" data-state="(up|down)"');
  var BEAT = new RegExp('^<div id="' + IDS.beat + '"');
  var ONLINE_COUNT = 'id="stat-online"';
  var SILENT_MS = PROTOCOL.silentSeconds * 1000;
  var PING_MS = 25000;
  var INTERRUPTED_PING_MS = 10000;
  var CATCH_UP_MS = 3000;
  var PING_TIMEOUT_MS = 10000;
  // Reconnecting after a clean close: full jitter over an exponential
  // ceiling, so a room whose server restarted does not come back at once.
  var RECONNECT_MIN_MS = 500;
  var RECONNECT_BASE_MS = 2000;
  var RECONNECT_CAP_MS = 30000;
  var socket = null;       // the htmx wrapper while a socket is open
  var wrapper = null;      // the htmx wrapper, open or not
  var latest = null;       // the WebSocket the wrapper uses now
  var silence = null;      // fires if a ping gets no answer
  var lastHeard = 0;       // when the open socket last said anything
  var syncing = true;      // « En direct » waits for the server's version
  var wokeUp = false;
  var layerDown = false;   // this socket's server said its live updates stopped
  var pingTimer = null;
  var opened = false;
  var cleanRetries = 0;
  var myMeToos = new Set();

  function byId(id) { return document.getElementById(id); }

  function currentVersion() {
    var marker = byId(IDS.version);
    return marker ? parseInt(marker.dataset.version, 10) : 0;
  }

  /* `label` names one of the element's data-label-* texts; without it (or
   * when the element has no such text) the state's own is shown. */
  function setStatus(state, label) {
    var status = byId("live-status");
    if (state !== "online") showOnlineCount(false);
    // The browser knows it has no network: say so rather than « Reconnexion… ».
    if (state === "offline" && !label && navigator.onLine === false) label = "network";
    if (!status) return;
    status.dataset.state = state;
    var key = function (name) { return "label" + name.charAt(0).toUpperCase() + name.slice(1); };
    var text = (label && status.dataset[key(label)]) || status.dataset[key(state)];
    if (text) status.textContent = text;
  }

  function reconnectDelay(attempt) {
    var ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * Math.pow(2, attempt));
    return RECONNECT_MIN_MS + Math.random() * ceiling;
  }
  window.cerveauLive = { reconnectDelay: reconnectDelay };  // checked by tests/test_faults.py

  function startPings(every) {
    clearInterval(pingTimer);
    pingTimer = setInterval(ping, every);
  }

  function requestResync() {
    if (!socket) return;
    var list = byId("impossible-list");
    var view = list ? { sort: list.dataset.sort, category: list.dataset.category } : {};
    socket.send(JSON.stringify({ type: PROTOCOL.messages.resync, version: currentVersion(), sort: view.sort, category: view.category }));
  }

  function ping() {
    if (!socket) return;
    socket.send(JSON.stringify({ type: PROTOCOL.messages.ping, version: currentVersion() }));
    if (!silence) {
      silence = setTimeout(function () {
        silence = null;
        if (socket) socket.reconnect();
      }, PING_TIMEOUT_MS);
    }
  }

  function heard() {
    clearTimeout(silence);
    silence = null;
    lastHeard = Date.now();
  }

  /* A count this page does not know (before its socket brought one, or
   * while the socket is down) is not shown. */
  function showOnlineCount(known) {
    var count = byId("stat-online");
    var stat = count && count.closest(".stat-online");
    if (stat) stat.hidden = !known;
  }

  /* Caught up with the server's version (or a snapshot arrived): live again,
   * unless the server's live updates are still interrupted (the page caught
   * up from the database, and still hears no push). */
  function settle(serverVersion) {
    if (!syncing || !socket) return;
    if (serverVersion !== undefined && currentVersion() < serverVersion) return;
    syncing = false;
    if (!layerDown) setStatus("online");
  }

  function goneSilent() {
    if (!socket) return;
    setStatus("offline");
    syncing = true;
    heard();
    socket.reconnect();
  }

  setInterval(function () {
    if (socket && Date.now() - lastHeard > SILENT_MS) goneSilent();
  }, 1000);

  /* Back on the network or on screen: ask now whether we missed something
   * (an open socket), or reconnect without waiting for the back-off. */
  function wakeUp() {
    if (socket) {
      wokeUp = true;
      syncing = true;
      ping();
    } else if (wrapper && (!latest || latest.readyState >= WebSocket.CLOSING)) {
      wrapper.reconnect();
    }
  }
  window.addEventListener("online", wakeUp);
  window.addEventListener("offline", function () {
    // Whatever the socket believes, nothing gets through now.
    syncing = true;
    setStatus("offline");
  });
  document.addEventListener("resume", wakeUp);
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") wakeUp();
  });

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
    var count = function (card) {
      var el = card.querySelector(".count");
      return el ? parseInt(el.dataset.count, 10) : 0;
    };
    var newer = function (a, b) { return b.dataset.created > a.dataset.created ? 1 : -1; };
    var byTop = function (a, b) { return count(b) - count(a) || newer(a, b); };
    var sorted = cards.slice().sort(list.dataset.sort === "top" ? byTop : newer);
    var changed = sorted.some(function (card, i) { return card !== cards[i]; });
    if (changed) sorted.forEach(function (card) { list.appendChild(card); });
    var empty = cards.every(function (card) { return card.hidden; });
    list.classList.toggle("is-empty", empty);
  }

  /* Phase, lock and spotlight travel in #atelier-state; the page's CSS
   * reads them from <body>, which no push replaces. */
  function applyAtelierState() {
    var state = byId("atelier-state");
    if (!state) return;
    announceState(state);
    ["canPost", "canMeToo", "canOffer", "spotlight"].forEach(function (key) {
      document.body.dataset[key] = state.dataset[key] || "";
    });
    document.querySelectorAll(".card.is-spotlight").forEach(function (card) {
      card.classList.remove("is-spotlight");
    });
    var spotlight = state.dataset.spotlight && byId("imp-" + state.dataset.spotlight);
    if (spotlight) spotlight.classList.add("is-spotlight");
  }

  /* Timers count down from the server's end time, corrected for this
   * phone's clock, so a reload or a reconnect shows the same time.
   * data-server-now carries microseconds: truncated to the second, it could
   * make a fresh 3-minute timer read 03:01. */
  var skewMs = 0;
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function formatClock(total) {
    var h = Math.floor(total / 3600), m = Math.floor((total % 3600) / 60), s = total % 60;
    return h ? h + ":" + pad(m) + ":" + pad(s) : pad(m) + ":" + pad(s);
  }
  function tickTimers() {
    document.querySelectorAll(".timer[data-ends-at]").forEach(function (timer) {
      if (!timer.dataset.endsAt) return;
      var left = Math.max(0, Math.round((timer.dataset.endsAt * 1000 - (Date.now() + skewMs)) / 1000));
      var clock = timer.querySelector(".timer-clock");
      if (clock) clock.textContent = formatClock(left);
      timer.classList.toggle("is-over", left === 0);
      timer.classList.toggle("is-ending", left > 0 && left <= 30);
    });
  }

  /* Live swaps (pushes, and the panels facilitators' screens fetch again)
   * replace elements a person may be on. Keep their focus on the same
   * control (found again by its id, or by what it does inside the nearest
   * element with an id), and keep what they were looking at where it was on
   * screen: the focused control, else the element with an id at the top of
   * the viewport. */
  function signature(element) {
    var form = element.form;
    return [element.tagName, element.getAttribute("name"), element.getAttribute("value"),
      element.getAttribute("href"), form ? form.getAttribute("action") : "", form ? form.getAttribute("hx-post") : ""].join("|");
  }

  function sameIn(scope, element) {
    var wanted = signature(element);
    var found = null;
    scope.querySelectorAll(element.tagName).forEach(function (candidate) {
      if (!found && signature(candidate) === wanted) found = candidate;
    });
    return found;
  }

  function viewAnchor() {
    var probe = document.elementFromPoint(window.innerWidth / 2, Math.min(80, window.innerHeight / 4));
    return probe && probe.closest("[id]");
  }

  function saveView() {
    var focused = document.activeElement;
    if (focused === document.body || focused === document.documentElement) focused = null;
    var anchor = focused || viewAnchor();
    var scope = focused && focused.parentElement && focused.parentElement.closest("[id]");
    return {
      focused: focused,
      scope: scope ? scope.id : "",
      anchor: anchor,
      anchorId: anchor ? anchor.id : "",
      top: anchor ? anchor.getBoundingClientRect().top : 0
    };
  }

  function restoreView(saved) {
    if (!saved) return;
    var focused = saved.focused;
    if (focused && !document.contains(focused)) {
      var scope = saved.scope && byId(saved.scope);
      focused = (focused.id && byId(focused.id)) || (scope && sameIn(scope, focused)) || null;
      if (focused && document.activeElement !== focused) focused.focus({ preventScroll: true });
    }
    var anchor = saved.focused ? focused : saved.anchor;
    if (anchor && !document.contains(anchor)) anchor = saved.anchorId && byId(saved.anchorId);
    if (!anchor) return;
    var moved = anchor.getBoundingClientRect().top - saved.top;
    if (Math.abs(moved) >= 1) window.scrollBy(0, moved);
  }

  /* What a screen reader hears of the room: at most one announcement every
   * ANNOUNCE_MS; what arrives meanwhile is summed up in one sentence, never
   * read out as a list. Pushes carry their sentence in #live-announce, which
   * is not itself a live region. */
  var ANNOUNCE_MS = 5000;
  var announceQueue = [];
  var announceTimer = null;
  var announcedAt = 0;
  var lastNews = null;

  function announce(text) {
    if (!text) return;
    announceQueue.push(text);
    if (announceTimer) return;
    var wait = Math.max(0, announcedAt + ANNOUNCE_MS - Date.now());
    announceTimer = setTimeout(flushAnnouncements, wait);
  }

  function flushAnnouncements() {
    announceTimer = null;
    var region = byId("live-announcer");
    if (!region || !announceQueue.length) return;
    var count = announceQueue.length;
    var text = count === 1 ? announceQueue[0] : (region.dataset.labelMany || "").replace("%s", String(count));
    announceQueue = [];
    announcedAt = Date.now();
    // Emptied first: the same sentence twice is still announced twice.
    region.textContent = "";
    setTimeout(function () { region.textContent = text; }, 50);
  }

  function takeNews() {
    var news = byId("live-announce");
    if (!news || news === lastNews) return;
    lastNews = news;
    announce(news.textContent.trim());
  }

  /* The phase and the lock are said in a sentence, not by reading the whole
   * state panel again at every push. */
  var lastState = null;
  function announceState(state) {
    var said = state.dataset.phase + "|" + (state.classList.contains("is-locked") ? "locked" : "");
    if (lastState !== null && said !== lastState) {
      var parts = [state.querySelector(".phase"), byId("atelier-closed")].filter(Boolean);
      announce(parts.map(function (part) { return part.textContent.replace(/\s+/g, " ").trim(); }).join(" "));
    }
    lastState = said;
  }

  /* « Vos impossibles » is the author's own: pushes, shared by the room,
   * cannot carry it. The page fetches it again when a push mentions one of
   * its impossibles (an offer of help, a moderation) or after posting. */
  var mineTimer = null;
  function refreshMine() {
    if (!byId("mine") || mineTimer) return;
    mineTimer = setTimeout(function () {
      mineTimer = null;
      htmx.trigger(document.body, "cerveau:mine");
    }, 300);
  }

  function mentionsMine(message) {
    var mine = byId("mine");
    if (!mine) return false;
    return mine.dataset.ids.split(" ").some(function (id) {
      return id && (message.indexOf('id="imp-' + id + '"') >= 0 || message.indexOf('id="imp-' + id + '-') >= 0);
    });
  }

  document.addEventListener("cerveau:posted", refreshMine);
  document.addEventListener("htmx:afterSwap", function (event) {
    var form = event.target;
    if (form && form.id === "post-form" && form.querySelector(".success")) refreshMine();
  });

  function toast(text) {
    var box = byId("toast");
    if (!box) return;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(function () { box.hidden = true; }, 5000);
  }

  /* Every (re)connection tells the server which version this page holds,
   * so it sends a snapshot only when something was missed. */
  if (window.htmx) {
    htmx.createWebSocket = function (url) {
      latest = new WebSocket(url.replace(/([?&]v=)\d*/, "$1" + currentVersion()));
      return latest;
    };

    /* A phone shows only the first cards of a big board: pushes about cards
     * it has not loaded have nothing to update, so they are dropped here
     * rather than reported by htmx as missing targets. */
    htmx.defineExtension("cerveau-live", {
      transformResponse: function (text) {
        var template = document.createElement("template");
        template.innerHTML = text;
        var dropped = false;
        Array.prototype.slice.call(template.content.children).forEach(function (element) {
          var oob = element.getAttribute("hx-swap-oob");
          if (element.id && oob && oob.indexOf(":") < 0 && !byId(element.id)) {
            element.remove();
            dropped = true;
          }
        });
        return dropped ? template.innerHTML : text;
      }
    });
  }

  /* "Show more" asks for the cards after the ones on screen. */
  document.addEventListener("htmx:configRequest", function (event) {
    if (!event.detail.elt.closest || !event.detail.elt.closest("#more-link")) return;
    var list = byId("impossible-list");
    event.detail.parameters.offset = list ? list.querySelectorAll(":scope > .card").length : 0;
  });

  document.addEventListener("DOMContentLoaded", function () {
    showOnlineCount(false);
    var mine = byId("my-me-toos");
    if (mine) JSON.parse(mine.textContent).forEach(function (id) { myMeToos.add(id); });
    if (document.body.dataset.serverNow) skewMs = document.body.dataset.serverNow * 1000 - Date.now();
    arrangeList();
    applyAtelierState();
    tickTimers();
    setInterval(tickTimers, 1000);
  });

  document.addEventListener("htmx:wsConnecting", function () {
    setStatus(opened ? "offline" : "connecting");
  });

  document.addEventListener("htmx:wsOpen", function (event) {
    socket = wrapper = event.detail.socketWrapper;
    // A new socket: its server says at once if its live updates are away.
    layerDown = false;
    heard();
    cleanRetries = 0;
    // The server already sent a snapshot if this page was behind (the URL
    // carries its version); the ping's answer says whether it caught up.
    syncing = true;
    ping();
    // Back after a drop: the socket URL carried our version (see
    // htmx.createWebSocket above), so the server already sent a snapshot if we
    // were behind. Facilitators' screens simply fetch their panels again.
    if (opened && document.body.dataset.screen === "refresh") scheduleRefresh();
    opened = true;
    startPings(PING_MS);
  });

  document.addEventListener("htmx:wsClose", function (event) {
    // A socket the wrapper replaced (reconnecting a silent one): not ours any more.
    if (latest && event.detail.event.target !== latest) return;
    wrapper = event.detail.socketWrapper || wrapper;
    heard();
    clearInterval(pingTimer);
    socket = null;
    syncing = true;
    var code = event.detail.event.code;
    // 4xxx: refused for good (not a member, foreign origin); htmx won't retry.
    if (code >= PROTOCOL.refusedFrom && code < PROTOCOL.refusedFrom + 1000) {
      setStatus("refused");
      return;
    }
    setStatus("offline");
    // htmx retries only 1006/1011/1012/1013; a server closing cleanly (a
    // restart, daphne's socket timeout) says 1000/1001, and the room must
    // come back all the same.
    if (PROTOCOL.retried.indexOf(code) < 0 && event.detail.socketWrapper) {
      var closed = event.detail.socketWrapper;
      setTimeout(function () { closed.reconnect(); }, reconnectDelay(cleanRetries));
      cleanRetries += 1;
    }
  });

  /* Facilitators' screens (console, projector) are rendered per request:
   * a push only tells them to fetch their panels again, at most once per
   * data-refresh-ms (the console lists the whole board: once a second), and
   * they swap nothing from the phones' fragments. */
  var refreshPending = null;
  function scheduleRefresh() {
    if (refreshPending) return;
    refreshPending = setTimeout(function () {
      refreshPending = null;
      htmx.trigger(document.body, "cerveau:refresh");
    }, parseInt(document.body.dataset.refreshMs || "250", 10));
  }

  var viewBeforePush = null;
  document.addEventListener("htmx:wsBeforeMessage", function (event) {
    heard();
    viewBeforePush = saveView();
    var layer = LAYER.exec(event.detail.message);
    if (BEAT.test(event.detail.message)) {
      event.preventDefault();
      return;
    }
    if (layer) {
      event.preventDefault();
      if (layer[1] === "down") {
        layerDown = true;
        syncing = true;
        setStatus("offline", "interrupted");
        startPings(INTERRUPTED_PING_MS);
      } else {
        layerDown = false;
        syncing = true;
        startPings(PING_MS);
        // A snapshot if we fell behind, then the version: live once caught up.
        if (document.body.dataset.screen === "refresh") scheduleRefresh();
        else requestResync();
        ping();
      }
      return;
    }
    var reply = PING_REPLY.exec(event.detail.message);
    if (reply) {
      event.preventDefault();
      var serverVersion = parseInt(reply[1], 10);
      var justWoke = wokeUp || syncing;
      wokeUp = false;
      settle(serverVersion);
      if (justWoke && currentVersion() < serverVersion) {
        requestResync();  // back from a sleep: what we miss is not in flight
      } else if (currentVersion() < serverVersion) {
        setTimeout(function () {
          if (currentVersion() < serverVersion) requestResync();
        }, CATCH_UP_MS);
      }
      return;
    }
    var match = MARKER.exec(event.detail.message.slice(0, 200));
    if (document.body.dataset.screen === "refresh") {
      event.preventDefault();
      if (match && parseInt(match[1], 10) > currentVersion()) byId(IDS.version).dataset.version = match[1];
      if (match && match[2] === PROTOCOL.kinds.snapshot) settle();
      scheduleRefresh();
      return;
    }
    if (!match) return;  // unversioned (presence count)
    var incoming = parseInt(match[1], 10);
    if (match[2] === PROTOCOL.kinds.snapshot) return;
    var current = currentVersion();
    if (incoming <= current) {
      event.preventDefault();
    } else if (incoming > current + 1) {
      event.preventDefault();
      requestResync();
    }
  });

  document.addEventListener("htmx:wsAfterMessage", function (event) {
    var message = event.detail.message || "";
    var marker = MARKER.exec(message.slice(0, 200));
    if (marker && marker[2] === PROTOCOL.kinds.snapshot) settle();
    if (!syncing && !layerDown && message.indexOf(ONLINE_COUNT) >= 0) showOnlineCount(true);
    applyMyMeToos();
    arrangeList();
    applyAtelierState();
    tickTimers();
    takeNews();
    if (mentionsMine(message)) refreshMine();
    restoreView(viewBeforePush);
    viewBeforePush = null;
  });

  document.addEventListener("cerveau:metoo", function (event) {
    var detail = event.detail;
    if (detail.on) myMeToos.add(detail.impossible); else myMeToos.delete(detail.impossible);
    applyMyMeToos();
  });

  /* The panels a facilitator's screen fetches again replace what they are on. */
  var viewBeforeRefresh = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var trigger = event.detail.elt && event.detail.elt.getAttribute && event.detail.elt.getAttribute("hx-trigger");
    if (trigger && /cerveau:(refresh|mine)/.test(trigger)) viewBeforeRefresh = saveView();
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    applyMyMeToos(event.target);
    if (viewBeforeRefresh) {
      var saved = viewBeforeRefresh;
      viewBeforeRefresh = null;
      restoreView(saved);
    }
  });

  document.addEventListener("cerveau:refused", function (event) {
    toast(event.detail.message);
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    if (status === 409) return;  // a refusal: "cerveau:refused" says why
    // A 503 (the database away) says why the same way: keep its message.
    if ((event.detail.xhr.getResponseHeader("HX-Trigger") || "").indexOf("cerveau:refused") >= 0) return;
    var messages = document.body.dataset;
    toast(status === 404 ? messages.msgGone : status === 403 ? messages.msgForbidden : messages.msgError);
  });

  /* Under DEBUG (`make run`), django-htmx's error handler (listening on
   * document) replaces the whole page with any 400, 403, 404 or 500 answer
   * to an htmx request. A 403 or a 404 is an answer this site explains
   * itself (a link revoked or renewed, an impossible gone, an action
   * refused): keep it from that handler, so the page's own message shows,
   * as it does in production. Caught on window, before it reaches document;
   * htmx itself goes on as usual. */
  window.addEventListener("htmx:beforeOnLoad", function (event) {
    var status = event.detail.xhr && event.detail.xhr.status;
    if (status === 403 || status === 404) event.stopImmediatePropagation();
  }, true);

  document.addEventListener("htmx:sendError", function (event) {
    // On the board, the outbox keeps these and says so (outbox.js).
    var elt = event.detail.elt;
    if (byId("outbox") && elt && elt.matches && elt.matches("form[data-outbox]")) return;
    toast(document.body.dataset.msgOffline);
  });
})();
