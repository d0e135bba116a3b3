/* The live criteria checklist of the case form.
 *
 * Builds the contract's case JSON from the form's inputs (each names its dotted path in data-path
 * and its kind in data-type; list rows name their key in data-item), POSTs it to the stateless
 * coverage check on every change (debounced), and shows each criterion as met / not met / missing
 * with its reason in an aria-live region. A 400 puts each message next to the input its path
 * names, and the check is run again without those fields so the checklist still follows along.
 * Also: "add another row" for the list rows, and showing only the payer-specific inputs that the
 * chosen payer's policy reads. Loaded as a file (the CSP allows no inline script).
 */
(function () {
  "use strict";

  var form = document.getElementById("case-form");
  if (!form) return;
  var panel = document.getElementById("checklist");
  var formErrors = document.getElementById("case-errors");
  var checkUrl = form.getAttribute("data-check-url");
  var DEBOUNCE_MS = 400;
  var timer = null;
  var sequence = 0;
  var controller = null;

  // ------------------------------------------------------------------ reading the form

  function visible(el) {
    return !el.closest("[hidden]");
  }

  // The server's rule (priorauth/pages/strict_input.py): digits with at most one decimal point or
  // comma, the field's unit allowed after them; anything else stays text, which the checker names
  // ("must be a number") instead of reading it as something else.
  var NUMBER = /^([+-]?)(\d+)(?:([.,])(\d+))?$/;

  function readNumber(raw, unit) {
    var text = raw.trim();
    if (text === "") return { value: undefined, note: "" };
    var body = text;
    if (unit && body.toLowerCase().slice(-unit.length) === unit.toLowerCase()) body = body.slice(0, -unit.length).trim();
    var m = NUMBER.exec(body);
    if (!m) return { value: text, note: "" };
    var n = Number(m[1] + m[2] + "." + (m[4] || "0"));
    var plain = String(n);
    return { value: n, note: body === plain && body === text ? "" : "Read as " + plain + (unit ? " " + unit : "") + "." };
  }

  // The pages' staff_text filter (priorauth/templatetags/pages.py): contract paths in words,
  // reference file names of the rule sources left out.
  function staffText(text) {
    if (!text) return text;
    return String(text)
      .replace(/\b(?:clinical|administrative|procedure|patient|provider)\.[a-z_]+(?:\.[a-z_]+|\[\])*/g, function (path) {
        return path.replace(/\[\]/g, "").split(".").filter(function (p) { return p !== "clinical" && p !== "administrative"; })
          .map(function (p) { return p.replace(/_/g, " "); }).join(" ");
      })
      .replace(/\s*\([^()]*\bdomain\.md\b[^()]*\)|[^.()]*\bdomain\.md\b[^.()]*\.?/g, "")
      .trim();
  }

  function numberValue(raw, integer, unit) {
    return readNumber(raw, unit).value;
  }

  // Say how a number not written plainly was read ("1,5" → "Read as 1.5 mm."), next to its input.
  function echoNumber(el) {
    var type = el.getAttribute("data-type");
    if (type !== "number" && type !== "integer" && !el.hasAttribute("data-unit")) return;
    if (el.tagName !== "INPUT" || el.type !== "text") return;
    var id = el.id + "_readas";
    var note = document.getElementById(id);
    var text = readNumber(el.value, el.getAttribute("data-unit") || "").note;
    if (!note) {
      note = document.createElement("p");
      note.id = id;
      note.className = "read-as";
      note.setAttribute("aria-live", "polite");
      el.insertAdjacentElement("afterend", note);
      el.setAttribute("aria-describedby", ((el.getAttribute("aria-describedby") || "") + " " + id).trim());
    }
    note.textContent = text;
    note.hidden = !text;
  }

  // A date the browser could not read (02/30/1950) has an empty value: say so where it was typed,
  // rather than let it count as missing and vanish on save.
  function badDates() {
    var bad = [];
    form.querySelectorAll('input[type="date"]').forEach(function (el) {
      var errorEl = errorElementFor(el);
      var own = errorEl && errorEl.querySelector(".bad-date");
      if (el.validity && el.validity.badInput) {
        bad.push(el);
        el.setAttribute("aria-invalid", "true");
        if (errorEl && !own) {
          var p = document.createElement("p");
          p.className = "bad-date";
          p.textContent = "This is not a real date: check the month and the day.";
          errorEl.appendChild(p);
        }
      } else if (own) {
        own.remove();
      }
    });
    return bad;
  }

  function readInput(el) {
    var type = el.getAttribute("data-type");
    switch (type) {
      case "number": return numberValue(el.value, false, el.getAttribute("data-unit") || "");
      case "integer": return numberValue(el.value, true, el.getAttribute("data-unit") || "");
      case "checkbox": return el.checked ? true : undefined;
      case "date": return el.value || undefined;
      case "list-csv": {
        var codes = el.value.split(/[\s,;]+/).filter(Boolean).map(function (c) { return c.toUpperCase(); });
        return codes.length ? codes : undefined;
      }
      default: {
        var text = el.value.trim();
        return text === "" ? undefined : text;
      }
    }
  }

  function setPath(obj, path, value) {
    var parts = path.split(".");
    var node = obj;
    for (var i = 0; i < parts.length - 1; i++) {
      if (typeof node[parts[i]] !== "object" || node[parts[i]] === null) node[parts[i]] = {};
      node = node[parts[i]];
    }
    node[parts[parts.length - 1]] = value;
  }

  var DROPPED = {};

  /** Removes the field a path names; a list item is marked and filtered out by dropMarked(). */
  function deletePath(obj, path) {
    var parts = path.split(".");
    var node = obj;
    for (var i = 0; i < parts.length - 1; i++) {
      if (node == null || typeof node !== "object") return;
      node = node[parts[i]];
    }
    if (node && typeof node === "object") {
      var last = parts[parts.length - 1];
      if (Array.isArray(node)) node[Number(last)] = DROPPED;
      else delete node[last];
    }
  }

  function dropMarked(node) {
    if (Array.isArray(node)) {
      return node.filter(function (item) { return item !== DROPPED; }).map(dropMarked);
    }
    if (node && typeof node === "object") {
      Object.keys(node).forEach(function (key) { node[key] = dropMarked(node[key]); });
    }
    return node;
  }

  /** The case, and for each list path the DOM rows behind its items (to place row errors). */
  function buildCase() {
    var data = {};
    var rowsByPath = {};
    var seen = {};
    form.querySelectorAll("[data-path]").forEach(function (el) {
      var path = el.getAttribute("data-path");
      var type = el.getAttribute("data-type");
      if (el.closest("[data-list-path]") || type === "none-list" || !visible(el)) return;
      if (type === "case-part") { // a record picker: its option carries the record's part of the case
        // A <select> keeps the part on its option; the patient combobox on its hidden input.
        var option = el.options ? el.options[el.selectedIndex] : el;
        if (el.value && option && option.getAttribute("data-case")) setPath(data, path, JSON.parse(option.getAttribute("data-case")));
        return;
      }
      if (type === "list" || type === "tristate") {
        if (seen[path]) return;
        seen[path] = true;
        var group = form.querySelectorAll('[data-path="' + path + '"]');
        if (type === "list") {
          var values = [];
          group.forEach(function (box) { if (box.checked) values.push(box.value); });
          if (values.length) setPath(data, path, values);
        } else {
          group.forEach(function (radio) {
            if (radio.checked && radio.value !== "") setPath(data, path, radio.value === "yes");
          });
        }
        return;
      }
      var value = readInput(el);
      if (value !== undefined) setPath(data, path, value);
    });
    form.querySelectorAll("[data-list-path]").forEach(function (container) {
      var listPath = container.getAttribute("data-list-path");
      var items = [];
      var rows = [];
      container.querySelectorAll("[data-row]").forEach(function (row) {
        var item = {};
        row.querySelectorAll("[data-item]").forEach(function (el) {
          var value = readInput(el);
          if (value !== undefined) item[el.getAttribute("data-item")] = value;
        });
        if (Object.keys(item).length) { items.push(item); rows.push(row); }
      });
      var none = form.querySelector('[data-path="' + listPath + '.none"]');
      if (items.length || (none && none.checked)) setPath(data, listPath, items);
      rowsByPath[listPath] = rows;
    });
    return { data: data, rowsByPath: rowsByPath };
  }

  // ------------------------------------------------------------------ field errors

  function errorElementFor(input) {
    var ids = (input.getAttribute("aria-describedby") || "").split(/\s+/);
    for (var i = 0; i < ids.length; i++) {
      if (/_error$/.test(ids[i])) return document.getElementById(ids[i]);
    }
    return null;
  }

  function clearErrors() {
    form.querySelectorAll(".field-error").forEach(function (el) { el.textContent = ""; });
    form.querySelectorAll('[aria-invalid="true"]').forEach(function (el) { el.removeAttribute("aria-invalid"); });
    form.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
    if (formErrors) { formErrors.textContent = ""; formErrors.hidden = true; }
  }

  function inputsFor(path, built) {
    var direct = form.querySelectorAll('[data-path="' + path + '"]');
    if (direct.length) return { inputs: direct, prefix: "" };
    var listPaths = Object.keys(built.rowsByPath);
    for (var i = 0; i < listPaths.length; i++) {
      var lp = listPaths[i];
      var rest = path.indexOf(lp + ".") === 0 ? path.slice(lp.length + 1).split(".") : null;
      if (rest && /^\d+$/.test(rest[0])) {
        var row = built.rowsByPath[lp][Number(rest[0])];
        var cell = row && rest[1] ? row.querySelectorAll('[data-item="' + rest[1] + '"]') : [];
        if (cell.length) return { inputs: cell, prefix: "" };
      }
    }
    // "diagnoses.1", "procedure.levels.0": the one input of the list, naming the item.
    var parts = path.split(".");
    if (parts.length > 1 && /^\d+$/.test(parts[parts.length - 1])) {
      var owner = form.querySelectorAll('[data-path="' + parts.slice(0, -1).join(".") + '"]');
      if (owner.length) return { inputs: owner, prefix: "item " + (Number(parts[parts.length - 1]) + 1) + ": " };
    }
    return null;
  }

  // Staff read a field's label, never the contract's path ("clinical.symptoms.types").
  function labelFor(path) {
    var input = form.querySelector('[data-path="' + path + '"]') || form.querySelector('[data-path^="' + path + '."]');
    var label = input && input.id ? form.querySelector('label[for="' + input.id + '"]') : null;
    if (!label && input) { var fs = input.closest("fieldset"); label = fs && fs.querySelector("legend"); }
    if (label) return label.textContent.replace(/\s*\(required\)\s*$/, "").trim();
    var last = path.split(".").filter(function (p) { return !/^\d+$/.test(p); }).pop() || path;
    return last.replace(/_/g, " ").replace(/^./, function (c) { return c.toUpperCase(); });
  }

  function showErrors(errors, built) {
    Object.keys(errors).forEach(function (path) {
      var target = inputsFor(path, built);
      var messages = errors[path];
      if (!target) {
        if (formErrors) {
          messages.forEach(function (m) {
            var p = document.createElement("p");
            p.textContent = labelFor(path) + ": " + m;
            formErrors.appendChild(p);
          });
          formErrors.hidden = false;
        }
        return;
      }
      var errorEl = errorElementFor(target.inputs[0]);
      target.inputs.forEach(function (el) { el.setAttribute("aria-invalid", "true"); });
      var field = target.inputs[0].closest(".field");
      if (field) field.classList.add("has-error");
      if (errorEl) {
        messages.forEach(function (m) {
          var p = document.createElement("p");
          p.textContent = target.prefix + m;
          errorEl.appendChild(p);
        });
      }
    });
  }

  // ------------------------------------------------------------------ rendering the checklist

  var STATUS_TEXT = { met: "Met", not_met: "Not met", missing: "Missing" };
  var DECISION_TEXT = { meets_criteria: "Meets criteria", not_met: "Not met", incomplete: "Incomplete" };

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fieldFor(path) {
    if (!path) return null;
    var exact = form.querySelector('[data-path="' + path + '"], [data-list-path="' + path + '"] [data-item]');
    if (exact && visible(exact)) return exact;
    var nested = form.querySelector('[data-path^="' + path + '."]');
    return nested && visible(nested) ? nested : null;
  }

  function fillCriterion(li, c) {
    li.textContent = "";
    li.setAttribute("data-status", c.status);
    li.appendChild(el("span", "status status-" + c.status, STATUS_TEXT[c.status] || c.status));
    li.appendChild(el("span", "label", c.label));
    if (!c.required && !/advisory/i.test(c.label)) li.appendChild(el("span", "advisory", " (advisory)"));
    li.appendChild(el("span", "reason", staffText(c.reason)));
    var input = fieldFor(c.path);
    if (input && input.id && c.status !== "met") {
      var link = el("a", "goto", "Go to the field");
      link.href = "#" + input.id;
      link.setAttribute("data-focus", input.id);
      li.appendChild(link);
    }
  }

  function renderSection(container, heading, section) {
    var wrap = container.querySelector('[data-section="' + heading.key + '"]');
    if (!wrap) {
      wrap = el("section", "checklist-section");
      wrap.setAttribute("data-section", heading.key);
      wrap.appendChild(el("h3", null, heading.title));
      wrap.appendChild(el("p", "section-decision"));
      wrap.appendChild(el("ul", "criteria"));
      container.appendChild(wrap);
    }
    var decision = wrap.querySelector(".section-decision");
    var text = DECISION_TEXT[section.decision] || section.decision;
    if (decision.textContent !== text) {
      decision.textContent = text;
      decision.className = "section-decision decision-" + section.decision;
    }
    var list = wrap.querySelector(".criteria");
    var keys = section.criteria.map(function (c) { return c.key; }).join(" ");
    if (list.getAttribute("data-keys") !== keys) { // another payer: other criteria
      list.textContent = "";
      list.setAttribute("data-keys", keys);
    }
    section.criteria.forEach(function (c) {
      var li = list.querySelector('[data-key="' + c.key + '"]');
      if (!li) {
        li = el("li", "criterion");
        li.setAttribute("data-key", c.key);
        list.appendChild(li);
      }
      // Only a criterion whose answer changed is touched, so a screen reader hears just that one.
      if (li.getAttribute("data-status") !== c.status || li.getAttribute("data-reason") !== c.reason) {
        li.setAttribute("data-reason", c.reason);
        fillCriterion(li, c);
      }
    });
  }

  function renderList(container, key, title, items) {
    var wrap = container.querySelector('[data-list="' + key + '"]');
    var text = items.join("\n");
    if (wrap && wrap.getAttribute("data-text") === text) return;
    if (!wrap) {
      wrap = el("section", "checklist-list");
      wrap.setAttribute("data-list", key);
      container.appendChild(wrap);
    }
    wrap.setAttribute("data-text", text);
    wrap.textContent = "";
    if (!items.length) return;
    wrap.appendChild(el("h3", null, title));
    var ul = el("ul");
    items.forEach(function (item) { ul.appendChild(el("li", null, item)); });
    wrap.appendChild(ul);
  }

  function render(determination) {
    var summary = panel.querySelector(".checklist-decision");
    var placeholder = panel.querySelector(".checklist-empty");
    if (placeholder) placeholder.remove();
    if (!summary) {
      summary = el("p", "checklist-decision");
      panel.insertBefore(summary, panel.firstChild);
    }
    var policy = determination.policy || {};
    var text = "Overall: " + (DECISION_TEXT[determination.decision] || determination.decision);
    if (summary.getAttribute("data-text") !== text) {
      summary.setAttribute("data-text", text);
      summary.textContent = "";
      summary.appendChild(el("span", "decision decision-" + determination.decision, text));
    }
    var policyLine = panel.querySelector(".checklist-policy");
    if (!policyLine) {
      policyLine = el("p", "checklist-policy hint");
      summary.after(policyLine);
    }
    var policyText = (determination.payer_name || determination.payer) + " — " + (policy.code || "") +
      (policy.review_status === "unverified" ? " (policy not yet verified)" : "");
    if (policyLine.textContent !== policyText) policyLine.textContent = policyText;
    renderSection(panel, { key: "clinical", title: "Clinical criteria" }, determination.clinical);
    renderSection(panel, { key: "payer_rules", title: "Payer rules" }, determination.payer_rules);
    renderList(panel, "missing", "Still missing", determination.missing || []);
    renderList(panel, "claim", "On the claim", determination.claim_requirements || []);
  }

  function showPlaceholder(text) {
    panel.textContent = "";
    panel.appendChild(el("p", "checklist-empty", text));
  }

  // ------------------------------------------------------------------ talking to the checker

  function csrfToken() {
    var input = form.querySelector('input[name="csrfmiddlewaretoken"]');
    return input ? input.value : "";
  }

  function post(body, signal) {
    return fetch(checkUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(body),
      signal: signal
    });
  }

  /** initial: the check on page load, which leaves the server's error messages in place. */
  function check(initial) {
    var built = buildCase();
    if (!built.data.payer) {
      if (!initial) clearErrors();
      showPlaceholder("Choose the payer to see which criteria are met.");
      return;
    }
    var mine = ++sequence;
    if (controller) controller.abort();
    controller = typeof AbortController === "function" ? new AbortController() : null;
    var signal = controller ? controller.signal : undefined;
    panel.setAttribute("aria-busy", "true");

    post(built.data, signal)
      .then(function (response) {
        document.dispatchEvent(new CustomEvent("checklist:checked")); // activity, for idle.js
        return response.json().then(function (body) { return { status: response.status, body: body }; });
      })
      .then(function (first) {
        if (mine !== sequence) return null;
        if (first.status === 200) return { determination: first.body, errors: null };
        if (first.status !== 400) throw new Error("The checker answered " + first.status);
        // Check the rest of the case without the invalid fields, so the list still follows.
        var trimmed = JSON.parse(JSON.stringify(built.data));
        Object.keys(first.body).forEach(function (path) { deletePath(trimmed, path); });
        trimmed = dropMarked(trimmed);
        return post(trimmed, signal).then(function (response) {
          if (response.status !== 200) return { determination: null, errors: first.body };
          return response.json().then(function (body) { return { determination: body, errors: first.body }; });
        });
      })
      .then(function (result) {
        if (!result || mine !== sequence) return;
        if (!initial) {
          clearErrors();
          if (result.errors) showErrors(result.errors, built);
        } else if (result.errors) {
          // After a failed save the server's errors stay; the checker's (an unknown ICD-10 code)
          // join them at once, where the server did not already say something about that input.
          var fresh = {};
          Object.keys(result.errors).forEach(function (path) {
            var target = inputsFor(path, built);
            var errorEl = target && errorElementFor(target.inputs[0]);
            if (!errorEl || !errorEl.textContent.trim()) fresh[path] = result.errors[path];
          });
          showErrors(fresh, built);
        }
        badDates();
        if (result.determination) render(result.determination);
      })
      .catch(function (error) {
        if (error && error.name === "AbortError") return;
        if (mine === sequence) showPlaceholder("The checklist could not be updated (" + error.message + "). Your entries are kept; saving the form still checks them.");
      })
      .then(function () {
        if (mine === sequence) panel.removeAttribute("aria-busy");
      });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(function () { check(false); }, DEBOUNCE_MS);
  }

  // ------------------------------------------------------------------ payer-specific inputs

  function showPayerFields() {
    var payer = (form.querySelector('[data-path="payer"]') || {}).value || "";
    form.querySelectorAll("[data-payers]").forEach(function (input) {
      var field = input.closest(".field");
      if (!field) return;
      var payers = input.getAttribute("data-payers").split(" ");
      field.hidden = payer !== "" && payers.indexOf(payer) === -1;
    });
  }

  // A chosen patient's details come from their record: the "new patient" inputs step aside.
  function showNewRecordFields() {
    form.querySelectorAll("[data-new-for]").forEach(function (wrap) {
      var picker = form.querySelector('[data-path="' + wrap.getAttribute("data-new-for") + '"]');
      wrap.hidden = Boolean(picker && picker.value);
    });
  }

  // ------------------------------------------------------------------ list rows

  function addRow(button) {
    var prefix = button.getAttribute("data-add-row");
    var template = document.getElementById(prefix + "-empty-row");
    var total = form.querySelector('[name="' + prefix + '-TOTAL_FORMS"]');
    var max = form.querySelector('[name="' + prefix + '-MAX_NUM_FORMS"]');
    var body = document.getElementById(prefix + "-rows");
    if (!template || !total || !body) return;
    var index = Number(total.value);
    if (max && index >= Number(max.value)) { button.disabled = true; return; }
    var holder = document.createElement("tbody");
    holder.innerHTML = template.innerHTML.replace(/__prefix__/g, String(index)).replace(/__number__/g, String(index + 1));
    var row = holder.firstElementChild;
    body.appendChild(row);
    total.value = String(index + 1);
    var first = row.querySelector("select, input");
    if (first) first.focus();
  }

  // ------------------------------------------------------------------ wiring

  form.addEventListener("input", function (event) { echoNumber(event.target); schedule(); });
  form.addEventListener("focusout", function (event) { if (event.target.type === "date") badDates(); });
  form.addEventListener("submit", function (event) {
    var bad = badDates();
    if (bad.length) { event.preventDefault(); bad[0].focus(); }
  });
  form.addEventListener("change", function (event) {
    var changed = event.target.getAttribute("data-path");
    if (changed === "payer") showPayerFields();
    if (event.target.getAttribute("data-type") === "case-part") showNewRecordFields();
    schedule();
  });
  form.addEventListener("click", function (event) {
    var button = event.target.closest("[data-add-row]");
    if (button) { event.preventDefault(); addRow(button); }
  });
  panel.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-focus]");
    if (!link) return;
    var input = document.getElementById(link.getAttribute("data-focus"));
    if (input) { event.preventDefault(); input.focus(); input.scrollIntoView({ block: "center" }); }
  });

  showPayerFields();
  showNewRecordFields();
  check(true);
})();
