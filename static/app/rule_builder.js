// The routing rule builder: rows of field / operator / value over the admin's JSON "conditions" field.
// The JSON stays the storage format: every change is written back to the textarea, which the form submits
// and the server validates again. Loaded from static/ (the CSP forbids inline script); the field catalogue
// comes from a JSON data block (#rule-fields) the page renders with json_script.
(function () {
  "use strict";

  function el(tag, attributes, text) {
    const node = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) { node.setAttribute(name, attributes[name]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function specFor(fields, name) {
    if (name && name.indexOf("metadata.") === 0) { return fields.find(function (f) { return f.field === "metadata."; }); }
    return fields.find(function (f) { return f.field === name; });
  }

  function isList(spec, op) { return (spec.list_ops || []).indexOf(op) >= 0; }

  let counter = 0;

  // One row: its controls, and how to read a condition (or the reason it does not fit) from them.
  function buildRow(fields, condition, onChange) {
    counter += 1;
    const id = "rb-" + counter;
    const row = el("tr", { class: "rule-row" });
    const fieldSelect = el("select", { "aria-label": "Field", class: "rb-field", id: id + "-field" });
    const groups = {};
    fields.forEach(function (f) {
      if (!groups[f.group]) { groups[f.group] = el("optgroup", { label: f.group }); fieldSelect.appendChild(groups[f.group]); }
      groups[f.group].appendChild(el("option", { value: f.field }, f.label));
    });
    const opSelect = el("select", { "aria-label": "Operator", class: "rb-op" });
    const valueCell = el("td", { class: "rb-value" });
    const error = el("td", { class: "rb-error", role: "alert", "aria-live": "polite" });
    const remove = el("button", { type: "button", class: "rb-remove", "aria-label": "Remove this condition" }, "Remove");
    const fieldCell = el("td");
    fieldCell.appendChild(fieldSelect);
    const opCell = el("td");
    opCell.appendChild(opSelect);
    [fieldCell, opCell, valueCell, error].forEach(function (cell) { row.appendChild(cell); });
    const removeCell = el("td");
    removeCell.appendChild(remove);
    row.appendChild(removeCell);

    let controls = {};

    function drawOps(spec, op) {
      opSelect.textContent = "";
      spec.ops.forEach(function (o) { opSelect.appendChild(el("option", { value: o }, o)); });
      opSelect.value = spec.ops.indexOf(op) >= 0 ? op : spec.ops[0];
    }

    function drawValue(spec, condition) {
      valueCell.textContent = "";
      controls = {};
      const op = opSelect.value;
      const value = condition ? condition.value : undefined;
      if (spec.input === "key_value") {
        controls.key = el("input", { type: "text", "aria-label": "Metadata key", class: "rb-key", placeholder: "key" });
        controls.key.value = condition && condition.field ? condition.field.replace(/^metadata\./, "") : "";
        valueCell.appendChild(controls.key);
        if (op === "exists") { return; }
      }
      if (spec.input === "boolean") {
        controls.value = el("select", { "aria-label": "Value" });
        controls.value.appendChild(el("option", { value: "true" }, "yes"));
        controls.value.appendChild(el("option", { value: "false" }, "no"));
        controls.value.value = value === false ? "false" : "true";
      } else if (spec.input === "choice" && !isList(spec, op)) {
        controls.value = el("select", { "aria-label": "Value" });
        spec.choices.forEach(function (c) { controls.value.appendChild(el("option", { value: c }, c)); });
        if (spec.choices.indexOf(value) >= 0) { controls.value.value = value; }
      } else if (spec.input === "number") {
        controls.value = el("input", { type: "number", "aria-label": "Value", step: String(spec.step || "any") });
        if (spec.min !== undefined) { controls.value.setAttribute("min", spec.min); }
        if (spec.max !== undefined) { controls.value.setAttribute("max", spec.max); }
        if (typeof value === "number") { controls.value.value = String(value); }
      } else if (spec.input === "duration") {
        controls.value = el("input", { type: "number", "aria-label": "Value", min: "0", step: "any" });
        controls.unit = el("select", { "aria-label": "Unit" });
        controls.unit.appendChild(el("option", { value: "days" }, "days"));
        controls.unit.appendChild(el("option", { value: "hours" }, "hours"));
        if (typeof value === "number") { controls.value.value = String(value); }
      } else {
        const hint = isList(spec, op) ? "comma-separated" : "";
        controls.value = el("input", { type: "text", "aria-label": "Value", placeholder: hint });
        if (Array.isArray(value)) { controls.value.value = value.join(", "); }
        else if (value !== undefined && value !== null) {
          controls.value.value = typeof value === "string" ? value : JSON.stringify(value);
        }
      }
      valueCell.appendChild(controls.value);
      if (controls.unit) { valueCell.appendChild(controls.unit); }
    }

    function redraw(condition) {
      const spec = specFor(fields, fieldSelect.value);
      drawOps(spec, condition ? condition.op : undefined);
      drawValue(spec, condition);
    }

    // The condition this row stands for, or {problem} saying what does not fit.
    function read() {
      const spec = specFor(fields, fieldSelect.value);
      const op = opSelect.value;
      const field = spec.input === "key_value" ? "metadata." + controls.key.value.trim() : spec.field;
      if (spec.input === "key_value" && !controls.key.value.trim()) { return { problem: "Name the metadata key." }; }
      if (spec.input === "key_value" && op === "exists") { return { condition: { field: field, op: op } }; }
      const raw = controls.value.value.trim();
      if (spec.input === "boolean") { return { condition: { field: field, op: op, value: raw === "true" } }; }
      if (isList(spec, op)) {
        const parts = raw.split(",").map(function (p) { return p.trim(); }).filter(Boolean);
        if (!parts.length) { return { problem: "List at least one value, separated by commas." }; }
        if (spec.choices) {
          const unknown = parts.filter(function (p) { return spec.choices.indexOf(p) < 0; });
          if (unknown.length) { return { problem: "Not a " + spec.label.toLowerCase() + ": " + unknown.join(", ") + "." }; }
        }
        return { condition: { field: field, op: op, value: parts } };
      }
      if (spec.input === "number" || spec.input === "duration") {
        if (raw === "" || isNaN(Number(raw))) { return { problem: "Enter a number." }; }
        let number = Number(raw);
        if (spec.min !== undefined && number < spec.min) { return { problem: "At least " + spec.min + "." }; }
        if (spec.max !== undefined && number > spec.max) { return { problem: "At most " + spec.max + "." }; }
        if (spec.step === 1 && !Number.isInteger(number)) { return { problem: "A whole number." }; }
        if (controls.unit && controls.unit.value === "hours") { number = Math.round((number / 24) * 10000) / 10000; }
        return { condition: { field: field, op: op, value: number } };
      }
      if (!raw) { return { problem: "Enter a value." }; }
      if (spec.input === "key_value") {
        let parsed = raw;
        try { parsed = JSON.parse(raw); } catch (e) { parsed = raw; } // a bare word is a string
        return { condition: { field: field, op: op, value: parsed } };
      }
      return { condition: { field: field, op: op, value: raw } };
    }

    fieldSelect.value = condition ? (specFor(fields, condition.field) || fields[0]).field : fields[0].field;
    redraw(condition);
    fieldSelect.addEventListener("change", function () { redraw(null); onChange(); });
    opSelect.addEventListener("change", function () { drawValue(specFor(fields, fieldSelect.value), read().condition); onChange(); });
    row.addEventListener("input", onChange);
    row.addEventListener("change", onChange);
    remove.addEventListener("click", function () { row.remove(); onChange(); });
    return { row: row, read: read, error: error };
  }

  function init() {
    const textarea = document.getElementById("id_conditions");
    const catalogue = document.getElementById("rule-fields");
    if (!textarea || !catalogue || document.getElementById("rule-builder")) { return; }
    const fields = JSON.parse(catalogue.textContent);
    let conditions;
    try { conditions = JSON.parse(textarea.value || "[]"); } catch (e) { conditions = null; }
    const known = Array.isArray(conditions) && conditions.every(function (c) { return c && specFor(fields, c.field); });

    const builder = el("div", { id: "rule-builder", class: "rule-builder" });
    const table = el("table", { class: "rb-table" });
    const head = el("thead");
    const headRow = el("tr");
    ["Field", "Operator", "Value", "Problem", ""].forEach(function (t) { headRow.appendChild(el("th", { scope: "col" }, t)); });
    head.appendChild(headRow);
    table.appendChild(head);
    const body = el("tbody");
    table.appendChild(body);
    const add = el("button", { type: "button", id: "rb-add" }, "Add a condition");
    const toggle = el("button", { type: "button", id: "rb-toggle-json" }, "Edit as JSON");
    const summary = el("p", { class: "rb-summary", "aria-live": "polite", id: "rb-summary" });
    builder.appendChild(table);
    builder.appendChild(add);
    builder.appendChild(toggle);
    builder.appendChild(summary);
    textarea.parentNode.insertBefore(builder, textarea);

    const rows = [];

    function sync() {
      const live = rows.filter(function (r) { return r.row.isConnected; });
      const problems = [];
      const result = [];
      live.forEach(function (r, index) {
        const read = r.read();
        r.error.textContent = read.problem || "";
        r.row.classList.toggle("rb-invalid", Boolean(read.problem));
        if (read.problem) { problems.push("Condition " + (index + 1) + ": " + read.problem); }
        else { result.push(read.condition); }
      });
      if (!problems.length) { textarea.value = JSON.stringify(result); }
      summary.textContent = problems.length
        ? problems.length + " condition(s) do not fit yet; the rule cannot be saved until they do."
        : (result.length ? "All " + result.length + " condition(s) must hold." : "No condition: the rule matches every item.");
      return problems;
    }

    function addRow(condition) {
      const r = buildRow(fields, condition, sync);
      rows.push(r);
      body.appendChild(r.row);
    }

    if (known) {
      conditions.forEach(addRow);
      textarea.hidden = true;
    } else {
      // JSON the builder cannot show (a field it does not know): leave the text to the admin, say why.
      table.hidden = true;
      add.hidden = true;
      toggle.hidden = true;
      summary.textContent = "These conditions are shown as JSON: the builder cannot represent them.";
      return;
    }
    add.addEventListener("click", function () { addRow(null); sync(); });
    toggle.addEventListener("click", function () {
      textarea.hidden = !textarea.hidden;
      toggle.textContent = textarea.hidden ? "Edit as JSON" : "Hide the JSON";
    });
    textarea.addEventListener("change", function () {
      // Edited by hand: rebuild the rows from it when it parses.
      try {
        const parsed = JSON.parse(textarea.value || "[]");
        if (!Array.isArray(parsed) || !parsed.every(function (c) { return c && specFor(fields, c.field); })) { return; }
        rows.forEach(function (r) { r.row.remove(); });
        rows.length = 0;
        parsed.forEach(addRow);
        sync();
      } catch (e) { summary.textContent = "The JSON does not parse: " + e.message; }
    });
    textarea.form.addEventListener("submit", function (event) {
      if (!textarea.hidden) { return; } // JSON edited by hand: the server checks it
      const problems = sync();
      if (problems.length) {
        event.preventDefault();
        const first = body.querySelector(".rb-invalid input, .rb-invalid select");
        if (first) { first.focus(); }
      }
    });
    sync();
  }

  document.addEventListener("DOMContentLoaded", init);
})();
