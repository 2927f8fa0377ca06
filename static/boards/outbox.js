/* The phone's outbox: a write the network lost is kept and sent again.
 *
 * The board's writes (post an impossible, « moi aussi », offer help) are
 * htmx form posts marked data-outbox. When one cannot reach the site (no
 * answer, no answer within TIMEOUT_MS, or an answer that is not the site's:
 * a Wi-Fi's captive portal, told apart by the X-Cerveau-Answer header every
 * answer of the site carries), it is kept in localStorage, shown as « en
 * attente d'envoi », and sent again, oldest first, when the socket reopens,
 * when the browser says it is online, when the page comes back on screen,
 * and on a back-off. While older writes wait, a new one waits behind them.
 *
 * Sending twice is harmless: posts and offers carry their form's submission
 * key, which the server accepts once (a repeat answers as the first did),
 * and « moi aussi » sets a state rather than toggling it. What the server
 * answers decides: 2xx, done; a refusal (4xx: the phase closed, the board
 * locked, the impossible gone, a form error), dropped, with the server's
 * reason shown; 5xx or no answer, kept for later. At most MAX_ENTRIES are
 * kept, for at most MAX_AGE_MS.
 */
(function () {
  "use strict";

  var STORE = "cerveau-outbox";
  var MAX_ENTRIES = 40;
  var MAX_AGE_MS = 2 * 60 * 60 * 1000;
  var TIMEOUT_MS = 8000;
  var BACKOFF_MIN_MS = 2000;
  var BACKOFF_MAX_MS = 60000;
  var ANSWER_HEADER = "X-Cerveau-Answer";
  var IMPOSSIBLE_IN_URL = /\/impossibles\/(\d+)\//;

  var entries = [];
  var sending = false;
  var retryTimer = null;
  var failures = 0;

  function byId(id) { return document.getElementById(id); }

  function labels() {
    var box = byId("outbox");
    return box ? box.dataset : {};
  }

  function load() {
    var stored = [];
    try {
      stored = JSON.parse(window.localStorage.getItem(STORE) || "[]");
    } catch (error) {
      stored = [];
    }
    var now = Date.now();
    entries = (Array.isArray(stored) ? stored : []).filter(function (entry) {
      return entry && entry.url && now - entry.at < MAX_AGE_MS;
    });
  }

  function save() {
    try {
      window.localStorage.setItem(STORE, JSON.stringify(entries));
    } catch (error) {
      // Storage full or refused (private browsing): the list lives in this page only.
    }
  }

  /* One list per browser, shown and sent from the board of each entry's own
   * atelier (someone may have joined two). */
  function here(entry) {
    var box = byId("outbox");
    return Boolean(box) && entry.url.indexOf(box.dataset.board) === 0;
  }

  function shown() {
    return entries.filter(here);
  }

  function pending() {
    return shown().filter(function (entry) { return entry.state === "pending"; });
  }

  function statementOf(impossible) {
    var heading = byId("imp-" + impossible + "-statement");
    return heading ? heading.textContent.trim() : "";
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (error) {
      return "";
    }
  }

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join("");
  }

  function metooChanged(impossible, on) {
    document.body.dispatchEvent(new CustomEvent("cerveau:metoo", { bubbles: true, detail: { impossible: impossible, on: on } }));
  }

  /* Keep the write a form was sending; show it as waiting. */
  function keep(form, body) {
    var kind = form.dataset.outbox;
    var url = form.getAttribute("hx-post") || form.getAttribute("action");
    var match = IMPOSSIBLE_IN_URL.exec(url);
    var impossible = match ? parseInt(match[1], 10) : null;
    var params = new URLSearchParams(body);
    // A post sent later is published as typed: its author has left the form,
    // so « Ça ressemble à… » is not asked again (the facilitators' « Doublons
    // probables » will show it if it is the same).
    if (kind === "post") params.set("decision", "publish");
    var entry = {
      id: newKey(),
      kind: kind,
      url: url,
      body: params.toString(),
      impossible: impossible,
      text: kind === "post" ? (params.get("statement") || "") : statementOf(impossible),
      at: Date.now(),
      state: "pending"
    };
    if (pending().length >= MAX_ENTRIES) {
      toast(labels().labelFull);
      return;
    }
    entries.push(entry);
    save();
    if (kind === "metoo") {
      metooChanged(impossible, params.get("state") !== "off");
    } else if (kind === "post") {
      // A fresh form, with a key of its own for the next impossible.
      form.reset();
      var key = form.querySelector("[name=submission_key]");
      if (key) key.value = newKey();
    } else if (kind === "offer") {
      var slot = form.closest(".help-slot");
      if (slot) slot.textContent = "";
    }
    render();
    say(labels().labelKept);
    scheduleRetry();
  }

  function toast(text) {
    var box = byId("toast");
    if (!box || !text) return;
    box.textContent = text;
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(function () { box.hidden = true; }, 5000);
  }

  function say(text) {
    var region = byId("live-announcer");
    if (region && text) region.textContent = text;
  }

  /* The list under the header, and a note on each card with something waiting. */
  function render() {
    var box = byId("outbox");
    if (!box) return;
    var said = labels();
    var list = box.querySelector("ul");
    list.textContent = "";
    shown().forEach(function (entry) {
      var item = document.createElement("li");
      item.className = "outbox-entry is-" + entry.state;
      item.dataset.kind = entry.kind;
      var what = document.createElement("span");
      what.className = "outbox-what";
      var label = said["label" + entry.kind.charAt(0).toUpperCase() + entry.kind.slice(1)] || "";
      what.textContent = label + (entry.text ? " \u00ab\u202f" + entry.text + "\u202f\u00bb" : "");
      item.appendChild(what);
      var state = document.createElement("span");
      state.className = "outbox-state";
      state.textContent = entry.state === "pending" ? said.labelPending : entry.message;
      item.appendChild(document.createTextNode(" — "));
      item.appendChild(state);
      if (entry.state !== "pending") {
        var dismiss = document.createElement("button");
        dismiss.type = "button";
        dismiss.className = "link-button outbox-dismiss";
        dismiss.textContent = said.labelDismiss;
        dismiss.addEventListener("click", function () {
          entries = entries.filter(function (other) { return other.id !== entry.id; });
          save();
          render();
        });
        item.appendChild(document.createTextNode(" "));
        item.appendChild(dismiss);
      }
      list.appendChild(item);
    });
    box.hidden = shown().length === 0;
    document.querySelectorAll(".outbox-note").forEach(function (note) { note.remove(); });
    pending().forEach(function (entry) {
      if (entry.impossible === null) return;
      var actions = document.querySelector("#imp-" + entry.impossible + " .card-actions");
      if (!actions || actions.parentNode.querySelector(".outbox-note")) return;
      var note = document.createElement("p");
      note.className = "outbox-note";
      note.textContent = said.labelPending;
      actions.insertAdjacentElement("afterend", note);
    });
  }

  function scheduleRetry() {
    clearTimeout(retryTimer);
    if (!pending().length) return;
    var delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * Math.pow(2, failures));
    retryTimer = setTimeout(flush, delay);
  }

  function refusalMessage(status, response, text) {
    var messages = document.body.dataset;
    if (status === 403) return messages.msgForbidden;
    if (status === 404) return messages.msgGone;
    var contentType = response.headers.get("Content-Type") || "";
    if (contentType.indexOf("text/plain") === 0 && text) return text.trim();
    if (text) {
      // A form with errors (422): its own words.
      var page = new DOMParser().parseFromString(text, "text/html");
      var errors = page.querySelectorAll(".errors li, .field-error, .errorlist li");
      if (errors.length) {
        return Array.prototype.map.call(errors, function (error) { return error.textContent.trim(); }).join(" ");
      }
    }
    return messages.msgForbidden;
  }

  function done(entry, response) {
    entries = entries.filter(function (other) { return other.id !== entry.id; });
    if (entry.kind === "post") document.body.dispatchEvent(new CustomEvent("cerveau:posted", { bubbles: true }));
    if (entry.kind === "metoo") {
      var trigger = response.headers.get("HX-Trigger");
      try {
        var detail = JSON.parse(trigger || "{}")["cerveau:metoo"];
        if (detail) metooChanged(detail.impossible, detail.on);
      } catch (error) {
        // The push brings the count anyway.
      }
    }
  }

  function refused(entry, message) {
    entry.state = "refused";
    entry.message = message;
    if (entry.kind === "metoo") {
      var on = new URLSearchParams(entry.body).get("state") !== "off";
      metooChanged(entry.impossible, !on);
    }
    toast(message);
  }

  /* Send what waits, oldest first; stop at the first that cannot get through. */
  function flush() {
    clearTimeout(retryTimer);
    if (sending) return;
    var next = pending()[0];
    if (!next) return;
    sending = true;
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
    var answer = null;
    fetch(next.url, {
      method: "POST",
      body: next.body,
      credentials: "same-origin",
      signal: controller.signal,
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "HX-Request": "true",
        "X-CSRFToken": csrfToken()
      }
    }).then(function (response) {
      answer = response;
      return response.text();
    }).then(function (text) {
      clearTimeout(timer);
      var status = answer.status;
      var ours = answer.headers.get(ANSWER_HEADER) !== null && !answer.redirected;
      if (!ours || status >= 500) throw new Error("not delivered");
      if (status < 300) done(next, answer);
      else refused(next, refusalMessage(status, answer, text));
      failures = 0;
      save();
      render();
      sending = false;
      flush();
    }).catch(function () {
      clearTimeout(timer);
      sending = false;
      failures += 1;
      scheduleRetry();
    });
  }

  function isOutbox(element) {
    return element && element.matches && element.matches("form[data-outbox]");
  }

  function bodyOf(detail) {
    var data = detail.requestConfig && detail.requestConfig.formData;
    return data ? new URLSearchParams(data) : new URLSearchParams(new FormData(detail.elt));
  }

  /* Behind older writes still waiting, or with no network at all: wait too. */
  document.addEventListener("htmx:beforeRequest", function (event) {
    var form = event.detail.elt;
    if (!isOutbox(form)) return;
    if (pending().length || navigator.onLine === false) {
      event.preventDefault();
      keep(form, bodyOf(event.detail));
      flush();
    }
  });

  /* An answer that is not the site's (a captive portal) or a server error:
   * nothing was done, keep the write. */
  document.addEventListener("htmx:beforeSwap", function (event) {
    var form = event.detail.elt;
    if (!isOutbox(form)) return;
    var xhr = event.detail.xhr;
    if (xhr.getResponseHeader(ANSWER_HEADER) === null || xhr.status >= 500) {
      event.preventDefault();
      keep(form, bodyOf(event.detail));
    }
  });

  function lost(event) {
    if (isOutbox(event.detail.elt)) keep(event.detail.elt, bodyOf(event.detail));
  }
  document.addEventListener("htmx:sendError", lost);
  document.addEventListener("htmx:timeout", lost);

  document.addEventListener("htmx:configRequest", function (event) {
    if (isOutbox(event.detail.elt)) event.detail.timeout = TIMEOUT_MS;
  });

  window.addEventListener("online", function () { failures = 0; flush(); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") flush();
  });
  document.addEventListener("htmx:wsOpen", function () { failures = 0; flush(); });
  // Cards swapped in live lose their note: put it back.
  document.addEventListener("htmx:wsAfterMessage", render);
  document.addEventListener("htmx:afterSwap", render);

  document.addEventListener("DOMContentLoaded", function () {
    if (!byId("outbox")) return;
    load();
    render();
    flush();
  });
})();
