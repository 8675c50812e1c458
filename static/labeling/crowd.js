// Keyboard-first crowd labelling: a digit answers with the button carrying that data-key. Listens on the
// document, so it keeps working after htmx swaps the next task in. (No inline script: the CSP forbids it.)
(function () {
  "use strict";
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA")) { return; }
    if (!/^[0-9]$/.test(event.key)) { return; }
    const button = document.querySelector('#crowd-form button[data-key="' + event.key + '"]');
    if (button && !button.disabled) {
      event.preventDefault();
      button.click();
    }
  });
})();
