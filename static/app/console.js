// The console's search results, from the keyboard: j/k move between results, x selects the current one,
// / jumps to the search box. Loaded from static/ (the CSP forbids inline script); rows that htmx appends
// ("More results") join the list as they arrive.
(function () {
  "use strict";

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#results tr.result")); }

  function typing(event) {
    const target = event.target;
    return target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && target.type !== "checkbox"));
  }

  function current() { return document.querySelector("#results tr.result.current"); }

  function moveTo(row) {
    const previous = current();
    if (previous) { previous.classList.remove("current"); previous.removeAttribute("aria-current"); }
    if (!row) { return; }
    row.classList.add("current");
    row.setAttribute("aria-current", "true");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
  }

  function step(delta) {
    const all = rows();
    if (!all.length) { return; }
    const index = all.indexOf(current());
    const next = index < 0 ? 0 : Math.min(all.length - 1, Math.max(0, index + delta));
    moveTo(all[next]);
  }

  function countSelected() {
    const counter = document.getElementById("selected-count");
    if (counter) { counter.textContent = document.querySelectorAll('#results input[name="item"]:checked').length; }
  }

  function toggleCurrent() {
    const row = current();
    const box = row && row.querySelector('input[name="item"]');
    if (box) { box.checked = !box.checked; countSelected(); }
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event)) { return; }
    switch (event.key) {
      case "j": step(1); break;
      case "k": step(-1); break;
      case "x": toggleCurrent(); break;
      case "/": { const box = document.getElementById("id_q"); if (box) { box.focus(); box.select(); } break; }
      default: return;
    }
    event.preventDefault();
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("change", function (event) {
    if (event.target && event.target.name === "item") { countSelected(); }
  });
  document.addEventListener("click", function (event) {
    const row = event.target && event.target.closest && event.target.closest("#results tr.result");
    if (row) { moveTo(row); }
  });
})();
