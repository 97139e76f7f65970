/* Escalation pages: focus the resolution note when its box opens, confirm the reply to every
   ticket of an incident, and keep the queue counters honest after one-click acknowledgements. */
(function () {
  "use strict";

  function wire(root) {
    root.querySelectorAll("details.resolve-box").forEach(function (box) {
      box.addEventListener("toggle", function () {
        var area = box.querySelector("textarea");
        if (box.open && area) { area.focus(); }
      });
    });
    var replyAll = root.querySelector ? root.querySelector("#reply-all-form") : null;
    if (replyAll && !replyAll.dataset.wired) {
      replyAll.dataset.wired = "1";
      replyAll.addEventListener("submit", function (event) {
        var button = replyAll.querySelector("#reply-all-button");
        if (!window.confirm(button ? button.textContent.trim() + "?" : "?")) { event.preventDefault(); }
      });
    }
  }

  function bump(id, delta) {
    var stat = document.querySelector("#" + id + " .stat");
    if (stat) { stat.textContent = Math.max(0, parseInt(stat.textContent, 10) + delta); }
  }

  document.addEventListener("DOMContentLoaded", function () { wire(document); });
  /* After a one-click acknowledge or resolve in the queue, move the counters with the row.
     The row's state is read before the request: by afterRequest it has been swapped out. */
  var pending = {};
  document.addEventListener("htmx:beforeRequest", function (event) {
    var row = event.detail.elt && event.detail.elt.closest ? event.detail.elt.closest("tr.esc-row") : null;
    var path = (event.detail.pathInfo && event.detail.pathInfo.requestPath) || "";
    if (row) { pending[path] = row.classList.contains("esc-open") ? "queue-open" : "queue-acknowledged"; }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var detail = event.detail;
    var path = (detail.pathInfo && detail.pathInfo.requestPath) || "";
    var from = pending[path];
    delete pending[path];
    if (!from || !detail.successful) { return; }
    if (/\/acknowledge$/.test(path) && from === "queue-open") { bump("queue-open", -1); bump("queue-acknowledged", 1); }
    if (/\/resolve$/.test(path)) { bump(from, -1); bump("queue-resolved", 1); }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (target && target.isConnected && target.querySelectorAll) { wire(target); }
  });
})();
