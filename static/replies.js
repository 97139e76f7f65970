/* Canned replies in the composer: insert a suggestion (click or Alt+1..3), select the first
   unfilled {{placeholder}}, and the "/" fuzzy title search. No inline JS (CSP). */
(function () {
  "use strict";
  var PLACEHOLDER = /\{\{[\s\S]{0,80}?\}\}/;
  var searchTimer = null;

  function composer() { return document.getElementById("composer-text"); }

  function warnPlaceholders(text) {
    var box = composer();
    if (!box) { return; }
    var note = document.getElementById("composer-placeholders");
    var names = (text.match(/\{\{[\s\S]{0,80}?\}\}/g) || []);
    if (!names.length) { if (note) { note.remove(); } return; }
    if (!note) {
      note = document.createElement("div");
      note.id = "composer-placeholders";
      note.className = "composer-placeholders";
      note.setAttribute("role", "status");
      box.insertAdjacentElement("afterend", note);
    }
    var section = document.getElementById("suggestions");
    var label = section && section.getAttribute("data-placeholder-warning");
    note.textContent = (label || "Fill in before sending:") + " " + names.join(", ");
  }

  function selectFirstPlaceholder(box) {
    var match = PLACEHOLDER.exec(box.value);
    box.focus();
    if (match) { box.setSelectionRange(match.index, match.index + match[0].length); }
    else { box.setSelectionRange(box.value.length, box.value.length); }
  }

  /* A canned reply's file goes with it while its chip stays in the composer. */
  function showCannedFile(name) {
    var chip = document.getElementById("composer-canned-file");
    if (!chip) { return; }
    chip.hidden = !name;
    chip.querySelector(".file-name").textContent = name || "";
    chip.querySelector("input[name=canned_file]").value = name ? "1" : "";
  }

  function insert(text, replyId, fileName) {
    var box = composer();
    if (!box) { return; }
    box.value = text;
    var hidden = document.getElementById("composer-canned-reply-id");
    if (hidden) { hidden.value = replyId || ""; }
    showCannedFile(fileName);
    closeSearch();
    selectFirstPlaceholder(box);
    warnPlaceholders(box.value);
    box.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function insertSuggestion(button) {
    document.querySelectorAll(".suggestion.inserted").forEach(function (el) { el.classList.remove("inserted"); });
    var item = button.closest(".suggestion");
    if (item) { item.classList.add("inserted"); }
    insert(button.getAttribute("data-text"), button.getAttribute("data-reply-id"),
           button.getAttribute("data-file-name"));
  }

  function searchBox() { return document.getElementById("reply-search"); }

  function closeSearch() {
    var box = searchBox();
    if (box) { box.remove(); }
  }

  function runSearch(query) {
    var section = document.getElementById("suggestions");
    var box = composer();
    if (!section || !box) { return; }
    var url = section.getAttribute("data-search-url");
    url += (url.indexOf("?") >= 0 ? "&" : "?") + "q=" + encodeURIComponent(query);
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        if (!composer() || composer().value.charAt(0) !== "/") { return; }
        var holder = searchBox();
        if (!holder) {
          holder = document.createElement("div");
          holder.id = "reply-search";
          holder.className = "reply-search";
          box.insertAdjacentElement("afterend", holder);
        }
        holder.innerHTML = html;  /* server-rendered, escaped by Jinja */
      });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest(".suggestion-insert, .reply-search-item");
    if (!button) { return; }
    event.preventDefault();
    if (button.classList.contains("suggestion-insert")) { insertSuggestion(button); }
    else { insert(button.getAttribute("data-text"), button.getAttribute("data-reply-id"),
                  button.getAttribute("data-file-name")); }
  });

  document.addEventListener("click", function (event) {
    if (event.target.id === "composer-canned-file-remove") { showCannedFile(""); }
  });

  document.addEventListener("keydown", function (event) {
    if (event.altKey && !event.ctrlKey && !event.metaKey && /^Digit[1-3]$/.test(event.code)) {
      var button = document.querySelector('.suggestion-insert[data-index="' + event.code.slice(5) + '"]');
      if (button) { event.preventDefault(); insertSuggestion(button); }
      return;
    }
    if (event.key === "Escape" && searchBox()) { closeSearch(); }
    if (event.key === "Enter" && event.target === composer() && searchBox()) {
      var first = searchBox().querySelector(".reply-search-item");
      if (first) { event.preventDefault(); first.click(); }
    }
  });

  /* Never send a reply that still holds a {{placeholder}}: select it for the agent instead. */
  document.addEventListener("htmx:beforeRequest", function (event) {
    var box = composer();
    var elt = event.detail && event.detail.elt;
    if (!box || !elt || elt.id !== "reply-form" || !PLACEHOLDER.test(box.value)) { return; }
    event.preventDefault();
    warnPlaceholders(box.value);
    selectFirstPlaceholder(box);
  });

  document.addEventListener("input", function (event) {
    var box = composer();
    if (event.target !== box) { return; }
    if (box.value.charAt(0) === "/" && box.value.indexOf("\n") < 0) {
      clearTimeout(searchTimer);
      var query = box.value.slice(1);
      searchTimer = setTimeout(function () { runSearch(query); }, 120);
    } else {
      closeSearch();
      if (!box.value) {
        var hidden = document.getElementById("composer-canned-reply-id");
        if (hidden) { hidden.value = ""; }
        showCannedFile("");
      }
      warnPlaceholders(box.value);
    }
  });
})();
