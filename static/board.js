/* SLA board: moves tickets from "at risk" to "breached" the second they cross their due
   time, and (only after the lead opts in with the button) beeps and shows a browser
   notification for each new breach. Countdown badges themselves are ticked by desk.js. */
(function () {
  "use strict";

  var STORE = "desk.board.alerts";

  /* Each row's assign menu holds only its owner until it is used: the whole menu is copied
     from the page's one <template> on first focus or press, before the list opens. */
  function fillMenu(e) {
    var select = e.target;
    if (!select || select.tagName !== "SELECT" || !select.getAttribute("data-options") ||
        select.getAttribute("data-filled")) { return; }
    var source = document.getElementById(select.getAttribute("data-options"));
    if (!source) { return; }
    var current = select.value;
    select.innerHTML = "";
    select.appendChild(source.content.cloneNode(true));
    select.value = current;
    select.setAttribute("data-filled", "1");
  }
  document.addEventListener("focusin", fillMenu);
  document.addEventListener("pointerdown", fillMenu, true);
  var seen = {};
  var audio = null;

  function alertsOn() { return window.localStorage && localStorage.getItem(STORE) === "on"; }

  function button() { return document.getElementById("board-alerts"); }

  function showButton() {
    var b = button();
    if (!b) { return; }
    var on = alertsOn();
    var denied = on && "Notification" in window && Notification.permission === "denied";
    b.setAttribute("aria-pressed", on ? "true" : "false");
    b.textContent = b.getAttribute(denied ? "data-denied" : (on ? "data-on" : "data-off"));
  }

  function ensureAudio() {
    if (audio || !alertsOn()) { return; }
    var Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx) { audio = new Ctx(); }
  }

  function beep() {
    if (!audio) { return; }
    [0, 0.22].forEach(function (offset) {
      var osc = audio.createOscillator(), gain = audio.createGain();
      var t = audio.currentTime + offset;
      osc.type = "sine";
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.2, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(t);
      osc.stop(t + 0.2);
    });
  }

  function announce(row) {
    var id = row.getAttribute("data-ticket");
    if (seen[id]) { return; }
    seen[id] = true;
    row.classList.add("arrived");
    if (!alertsOn()) { return; }
    beep();
    if ("Notification" in window && Notification.permission === "granted") {
      var title = (button() && button().getAttribute("data-title")) || "SLA breached";
      var body = row.getAttribute("data-ref") + " · " + row.getAttribute("data-customer");
      try { new Notification(title, { body: body, tag: "desk-breach-" + id }); } catch (e) { /* some browsers only allow it from a service worker */ }
    }
  }

  function bump(id, delta) {
    var el = document.getElementById(id);
    if (!el) { return; }
    var n = parseInt(el.textContent, 10);
    if (!isNaN(n)) { el.textContent = String(Math.max(0, n + delta)); }
  }

  function tick() {
    var breached = document.querySelector("#board-breached tbody");
    if (!breached) { return; }
    var now = Date.now();
    document.querySelectorAll("#board-at_risk tr.board-row").forEach(function (row) {
      var due = Date.parse(row.getAttribute("data-board-due"));
      if (isNaN(due) || due > now) { return; }
      breached.insertBefore(row, breached.querySelector("tr.empty-row"));
      var section = row.querySelector("input[name=section]");
      if (section) { section.value = "breached"; }
      bump("count-at_risk", -1);
      bump("count-breached", 1);
      announce(row);
    });
  }

  function remember(first) {
    document.querySelectorAll("#board-breached tr.board-row").forEach(function (row) {
      if (first) { seen[row.getAttribute("data-ticket")] = true; } else { announce(row); }
    });
  }

  function toggleAlerts() {
    if (alertsOn()) {
      localStorage.setItem(STORE, "off");
      showButton();
      return;
    }
    localStorage.setItem(STORE, "on");
    ensureAudio();
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().then(showButton);
    }
    showButton();
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.getElementById("board-body")) { return; }
    remember(true);
    showButton();
    var b = button();
    if (b) { b.addEventListener("click", toggleAlerts); }
    // Browsers allow sound only after a gesture: the first click anywhere unlocks it.
    document.addEventListener("click", ensureAudio, { once: true });
    tick();
    setInterval(tick, 1000);
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    if (document.getElementById("board-body")) { remember(false); tick(); }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var live = document.getElementById("board-live");
    if (live && event.detail.elt && event.detail.elt.id === "board-body") {
      live.classList.toggle("stale", !event.detail.successful && event.detail.xhr.status !== 204);
    }
  });
})();
