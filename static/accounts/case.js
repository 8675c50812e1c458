// Keyboard for the account case view (the CSP forbids inline script). A letter presses the decision
// button carrying it in data-key; "g" selects or clears the whole ring; "/" goes to the note; "e" to escalation.
(function () {
  "use strict";

  function typing(event) {
    const target = event.target;
    return target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && target.type !== "checkbox"));
  }

  document.addEventListener("keydown", function (event) {
    if (typing(event) || event.ctrlKey || event.metaKey || event.altKey || !document.querySelector(".account-case")) {
      return;
    }
    if (event.key === "g") {
      const members = Array.from(document.querySelectorAll(".ring-member"));
      const select = members.some(function (box) { return !box.checked; });
      members.forEach(function (box) { box.checked = select; });
      event.preventDefault();
      return;
    }
    if (event.key === "e") { // escalate: pick the queue, then type why
      const target = document.getElementById("to_queue");
      if (target) { target.focus(); event.preventDefault(); }
      return;
    }
    if (event.key === "/") {
      const note = document.getElementById("note");
      if (note) { note.focus(); event.preventDefault(); }
      return;
    }
    const button = document.querySelector('#case-decision button[data-key="' + event.key + '"]');
    if (button && !button.disabled) {
      event.preventDefault();
      button.click(); // a real click, so htmx sends the button's name and value
    }
  });
})();
