/* Inbox and ticket page behaviour: keyboard shortcuts, bulk selection, composer tabs,
   collision handling and error display. No inline JS anywhere (CSP). */
(function () {
  "use strict";

  var LIST_KEY = "desk.inbox.order";
  var selected = new Set();

  function $(sel, root) { return (root || document).querySelector(sel); }
  function $all(sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); }
  function editing(el) {
    return el && (el.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName));
  }
  function click(sel) { var el = $(sel); if (el && !el.disabled) { el.click(); return true; } return false; }

  /* ---------- help overlay ---------- */
  function toggleHelp(force) {
    var help = $("#shortcut-help");
    if (!help) { return; }
    help.hidden = force === undefined ? !help.hidden : !force;
  }

  /* ---------- inbox list ---------- */
  function rows() { return $all(".ticket-row"); }
  function focusedIndex() { return rows().findIndex(function (r) { return r.classList.contains("focused"); }); }
  function focusRow(index) {
    var all = rows();
    if (!all.length) { return; }
    index = Math.max(0, Math.min(all.length - 1, index));
    all.forEach(function (r) { r.classList.remove("focused"); });
    all[index].classList.add("focused");
    all[index].scrollIntoView({ block: "nearest" });
  }
  function focusedRow() { var i = focusedIndex(); return i >= 0 ? rows()[i] : null; }

  function rememberOrder() {
    var order = rows().map(function (r) { return r.getAttribute("data-href"); });
    if (order.length) {
      try { sessionStorage.setItem(LIST_KEY, JSON.stringify({ list: location.pathname + location.search, order: order })); } catch (e) { /* private mode */ }
    }
  }

  function syncSelection() {
    rows().forEach(function (r) {
      var box = $(".row-check", r);
      if (!box) { return; }
      box.checked = selected.has(box.value);
      r.classList.toggle("checked", box.checked);
    });
    var bar = $("#bulk-bar");
    if (bar) {
      bar.hidden = selected.size === 0;
      $("#bulk-count").textContent = String(selected.size);
      var all = $("#select-all");
      var boxes = $all(".row-check");
      if (all) { all.checked = boxes.length > 0 && boxes.every(function (b) { return b.checked; }); }
    }
  }

  function syncView() {
    var list = $("#inbox-list");
    if (!list) { return; }
    var view = list.getAttribute("data-view");
    $all(".view-link").forEach(function (a) { a.classList.toggle("active", a.getAttribute("data-view") === view); });
    var input = $("#filter-view");
    if (input) { input.value = view; }
    $all("#filters select").forEach(function (s) { s.classList.toggle("set", s.value !== ""); });
  }

  function refreshList() {
    var form = $("#filters");
    if (form) { htmx.trigger(form, "submit"); }
  }

  function rowAction(url) {
    htmx.ajax("POST", url, { swap: "none" }).then(refreshList);
  }

  function listKeys(e) {
    var row = focusedRow();
    switch (e.key) {
      case "j": focusRow(focusedIndex() + 1); return true;
      case "k": focusRow(focusedIndex() < 0 ? 0 : focusedIndex() - 1); return true;
      case "Enter": case "o": if (row) { location.href = row.getAttribute("data-href"); return true; } return false;
      case "x":
        if (row) { var box = $(".row-check", row); box.checked = !box.checked; box.dispatchEvent(new Event("change", { bubbles: true })); return true; }
        return false;
      case "a": if (row) { rowAction(row.getAttribute("data-claim-url")); return true; } return false;
      case "e": if (row) { rowAction(row.getAttribute("data-resolve-url")); return true; } return false;
      case "/": var search = $("#inbox-search"); if (search) { search.focus(); return true; } return false;
      default: return false;
    }
  }

  /* ---------- ticket page ---------- */
  function neighbour(step) {
    var saved;
    try { saved = JSON.parse(sessionStorage.getItem(LIST_KEY) || "null"); } catch (e) { saved = null; }
    if (!saved || !saved.order) { return null; }
    var i = saved.order.indexOf(location.pathname);
    if (i < 0 || i + step < 0 || i + step >= saved.order.length) { return null; }
    return saved.order[i + step];
  }

  function showPane(name) {
    $all(".composer .tab").forEach(function (t) { t.classList.toggle("active", t.getAttribute("data-pane") === name); });
    $all(".composer form.pane").forEach(function (f) { f.hidden = f.getAttribute("data-pane") !== name; });
    var area = name === "note" ? $("#note-text") : $("#composer-text");
    if (area) { area.focus(); }
  }

  function ticketKeys(e) {
    switch (e.key) {
      case "j": case "k":
        var next = neighbour(e.key === "j" ? 1 : -1);
        if (next) { location.href = next; } else { location.href = $("#ticket").getAttribute("data-inbox-url"); }
        return true;
      case "r": showPane("reply"); return true;
      case "n": showPane("note"); return true;
      case "a": return click("#claim-button");
      case "e": return click("#resolve-button");
      case "x":
        /* Open the escalation form and focus its first field; never send it unseen. */
        var box = $("#escalation-panel details");
        if (box) {
          box.open = true;
          box.scrollIntoView({ block: "nearest" });
          var field = $("select, textarea, input, button", box);
          if (field) { field.focus(); }
          return true;
        }
        return click("#escalation-panel button");
      default: return false;
    }
  }

  /* ---------- global key handling ---------- */
  document.addEventListener("keydown", function (e) {
    var target = e.target;
    if ((e.ctrlKey || e.metaKey) && e.key === "Enter" && target.tagName === "TEXTAREA" && target.form) {
      e.preventDefault();
      target.form.requestSubmit();
      return;
    }
    if (e.key === "Escape") {
      toggleHelp(false);
      if (editing(target)) { target.blur(); }
      return;
    }
    if (editing(target) || e.ctrlKey || e.metaKey || e.altKey) { return; }
    if (e.key === "?") { toggleHelp(); e.preventDefault(); return; }
    var handled = $("#inbox") ? listKeys(e) : $("#ticket") ? ticketKeys(e) : false;
    if (handled) { e.preventDefault(); }
  });

  document.addEventListener("click", function (e) {
    var t = e.target;
    var view = t.closest && t.closest(".view-link");
    if (view && $("#filters")) {
      e.preventDefault();
      $("#filter-view").value = view.getAttribute("data-view");
      $all(".view-link").forEach(function (a) { a.classList.toggle("active", a === view); });
      refreshList();
      return;
    }
    if (t.id === "shortcut-help-close" || t.id === "shortcut-help") { toggleHelp(false); return; }
    var tab = t.closest && t.closest(".composer .tab");
    if (tab) { showPane(tab.getAttribute("data-pane")); return; }
    if (t.id === "edit-first") {
      /* The agent has now seen the new reply: the next send may go out. */
      var warning = $("#collision-warning");
      $("#composer-last-seen").value = warning.getAttribute("data-last-seen");
      $("#composer-warning").innerHTML = "";
      showPane("reply");
      return;
    }
    var insert = t.closest && t.closest("#suggestions-panel [data-insert-text]");
    if (insert) {
      var area = $("#composer-text");
      if (!area) { return; }  /* WhatsApp's window closed: only a template can go */
      area.value = insert.getAttribute("data-insert-text");
      $("#composer-canned-reply-id").value = insert.getAttribute("data-canned-reply-id") || "";
      showPane("reply");
      area.dispatchEvent(new Event("input", { bubbles: true }));
    }
  });

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t.classList && t.classList.contains("row-check")) {
      if (t.checked) { selected.add(t.value); } else { selected.delete(t.value); }
      syncSelection();
    } else if (t.id === "select-all") {
      $all(".row-check").forEach(function (b) { if (t.checked) { selected.add(b.value); } else { selected.delete(b.value); } });
      syncSelection();
    }
  });

  /* Filters: leave empty fields out of the URL. */
  document.addEventListener("htmx:configRequest", function (e) {
    var elt = e.detail.elt;
    if (elt && elt.id === "filters") {
      var params = e.detail.parameters;
      var keys = params instanceof FormData ? Array.from(params.keys()) : Object.keys(params);
      keys.forEach(function (k) {
        var v = params instanceof FormData ? params.get(k) : params[k];
        if (v === "" || v === null) { if (params instanceof FormData) { params.delete(k); } else { delete params[k]; } }
      });
    }
  });

  /* Errors: a 409 collision warning is swapped where the server says; other 4xx show as a flash. */
  document.addEventListener("htmx:beforeSwap", function (e) {
    var xhr = e.detail.xhr;
    if (xhr.status < 400 || xhr.status >= 500) { return; }
    e.detail.shouldSwap = true;
    e.detail.isError = false;
    if (!xhr.getResponseHeader("HX-Retarget")) {
      var flash = $("#page-flash") || $("#bulk-result");
      if (flash) { e.detail.target = flash; e.detail.swapOverride = "innerHTML"; } else { e.detail.shouldSwap = false; }
    }
  });

  document.addEventListener("htmx:afterSettle", function (e) {
    if (e.detail.target && (e.detail.target.id === "inbox-list" || e.detail.target.id === "load-more" || $("#inbox-list"))) {
      syncView();
      syncSelection();
      rememberOrder();
    }
    if (e.detail.target && e.detail.target.id === "bulk-result" && $("#bulk-done")) {
      selected.clear();
      syncSelection();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    if ($("#inbox")) { rememberOrder(); syncView(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.body.addEventListener("inboxChanged", refreshList);
  });
})();
