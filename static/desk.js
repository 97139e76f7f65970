/* The desk's only script: behaviour that htmx attributes cannot express, no inline JS (CSP). */
(function () {
  "use strict";

  /* Live SLA badges: any element with data-due (ISO time) counts down, or up once overdue. */
  function formatDuration(seconds) {
    var s = Math.abs(Math.round(seconds));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h >= 24) { return Math.floor(h / 24) + "d " + (h % 24) + "h"; }
    if (h > 0) { return h + "h " + (m < 10 ? "0" : "") + m + "m"; }
    return m + "m " + ((s % 60) < 10 ? "0" : "") + (s % 60) + "s";
  }

  function tickCountdowns() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (isNaN(due)) { return; }
      var left = (due - now) / 1000;
      var label = left >= 0 ? formatDuration(left) : "+" + formatDuration(left);
      var target = el.querySelector(".countdown") || el;
      target.textContent = label;
      var warn = Date.parse(el.getAttribute("data-warn") || "");
      el.classList.toggle("sla-breached", left < 0);
      el.classList.toggle("sla-at_risk", left >= 0 && !isNaN(warn) && now >= warn);
      el.classList.toggle("sla-on_track", left >= 0 && (isNaN(warn) || now < warn));
    });
  }

  window.desk = window.desk || {};
  window.desk.formatDuration = formatDuration;
  window.desk.tickCountdowns = tickCountdowns;

  /* Phone: the menu button folds the navigation in and out. */
  function toggleMenu() {
    var shell = document.getElementById("shell"), button = document.getElementById("menu-button");
    var open = shell.classList.toggle("nav-open");
    button.setAttribute("aria-expanded", open ? "true" : "false");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var menu = document.getElementById("menu-button");
    if (menu) { menu.addEventListener("click", toggleMenu); }
    tickCountdowns();
    setInterval(tickCountdowns, 1000);
  });
  document.addEventListener("htmx:afterSettle", tickCountdowns);
})();
