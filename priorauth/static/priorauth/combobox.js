/* The patient combobox of the new-request page (WAI-ARIA 1.2 combobox with a listbox popup).
   Typing asks the search endpoint for a few matches; Down/Up move through them (the input keeps
   focus, aria-activedescendant names the active option), Enter or a click chooses, Escape closes
   (or clears, when already closed). Choosing fills the hidden input with the patient's id and the
   patient's part of the case (data-case) and fires "change" so the checklist follows. */
(function () {
  "use strict";

  function setup(box) {
    var input = box.querySelector('[role="combobox"]');
    var hidden = box.querySelector('input[type="hidden"]');
    var list = box.querySelector('[role="listbox"]');
    var status = box.querySelector('[aria-live]');
    var url = box.getAttribute("data-search-url");
    var options = [];
    var active = -1;
    var timer = null;
    var asked = 0;

    function announce(text) { if (status) status.textContent = text; }

    function close() {
      list.hidden = true;
      input.setAttribute("aria-expanded", "false");
      input.removeAttribute("aria-activedescendant");
      active = -1;
    }

    function choose(index) {
      var match = options[index];
      if (!match) return;
      hidden.value = String(match.id);
      hidden.setAttribute("data-case", JSON.stringify(match.case));
      input.value = match.label;
      input.setAttribute("data-chosen-label", match.label);
      close();
      announce("Chosen: " + match.label);
      hidden.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function unchoose() {
      if (!hidden.value) return;
      hidden.value = "";
      hidden.removeAttribute("data-case");
      input.setAttribute("data-chosen-label", "");
      hidden.dispatchEvent(new Event("change", { bubbles: true }));
    }

    function highlight(index) {
      var items = list.querySelectorAll('[role="option"]');
      if (!items.length) return;
      active = (index + items.length) % items.length;
      items.forEach(function (item, i) { item.setAttribute("aria-selected", i === active ? "true" : "false"); });
      input.setAttribute("aria-activedescendant", items[active].id);
      items[active].scrollIntoView({ block: "nearest" });
    }

    function show(matches) {
      options = matches;
      list.innerHTML = "";
      if (!matches.length) {
        var none = document.createElement("li");
        none.className = "no-match";
        none.setAttribute("role", "presentation");
        none.textContent = "No patient matches. Leave the field empty to enter a new patient.";
        list.appendChild(none);
        announce("No patient matches.");
      } else {
        matches.forEach(function (match, i) {
          var li = document.createElement("li");
          li.id = input.id + "_option_" + i;
          li.setAttribute("role", "option");
          li.setAttribute("aria-selected", "false");
          li.textContent = match.label;
          li.addEventListener("mousedown", function (event) { event.preventDefault(); choose(i); });
          list.appendChild(li);
        });
        announce(matches.length + " patient" + (matches.length === 1 ? "" : "s") + " found; use the arrow keys to choose.");
      }
      list.hidden = false;
      input.setAttribute("aria-expanded", "true");
      active = -1;
    }

    function search() {
      var q = input.value.trim();
      if (q.length < 2) { close(); return; }
      var mine = ++asked;
      fetch(url + "?q=" + encodeURIComponent(q), { headers: { Accept: "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (data) { if (mine === asked) show(data.results || []); })
        .catch(function () { announce("The search did not answer; try again."); });
    }

    input.addEventListener("input", function (event) {
      event.stopPropagation(); // the checklist follows the choice, not each keystroke here
      if (input.value !== input.getAttribute("data-chosen-label")) unchoose();
      clearTimeout(timer);
      timer = setTimeout(search, 200);
    });
    input.addEventListener("keydown", function (event) {
      var open = !list.hidden;
      if (event.key === "ArrowDown") {
        event.preventDefault();
        if (!open) { search(); return; }
        highlight(active + 1);
      } else if (event.key === "ArrowUp") {
        if (open) { event.preventDefault(); highlight(active - 1); }
      } else if (event.key === "Enter") {
        if (open && active >= 0) { event.preventDefault(); choose(active); }
      } else if (event.key === "Escape") {
        if (open) { event.preventDefault(); close(); }
        else if (input.value) { event.preventDefault(); input.value = ""; unchoose(); }
      } else if (event.key === "Tab") {
        close();
      }
    });
    input.addEventListener("blur", function () { setTimeout(close, 150); });
  }

  document.querySelectorAll("[data-combobox]").forEach(setup);
})();
