// Keyboard-first reviewing. Loaded from static/ (the CSP forbids inline script); re-initialised after
// every htmx swap, since the workspace is replaced when the next item arrives.
(function () {
  "use strict";

  let countdownTimer = null;
  let toastTimer = null;

  function $(selector, root) { return (root || document).querySelector(selector); }

  function typing(event) {
    const target = event.target;
    return target && (target.tagName === "TEXTAREA" || target.tagName === "SELECT" ||
      (target.tagName === "INPUT" && target.type !== "checkbox"));
  }

  function submitWith(buttonId) {
    const button = document.getElementById(buttonId);
    // A real click, so htmx sends the button's name and value (the action) with the form.
    if (button && !button.disabled) { button.click(); }
  }

  function lockWorkspace(message) {
    document.querySelectorAll(".decide button, .decide input, .decide textarea").forEach(function (el) {
      el.disabled = true;
    });
    const countdown = $("#countdown");
    if (countdown) {
      countdown.classList.add("expired");
      countdown.textContent = message;
      countdown.removeAttribute("hx-trigger");
    }
  }

  function startCountdown() {
    clearInterval(countdownTimer);
    const countdown = $("#countdown");
    if (!countdown) { return; }
    let remaining = parseInt(countdown.dataset.seconds, 10) || 0;
    const label = $(".time", countdown);
    function render() {
      const minutes = Math.floor(remaining / 60);
      const seconds = String(remaining % 60).padStart(2, "0");
      if (label) { label.textContent = minutes + ":" + seconds; }
    }
    render();
    countdownTimer = setInterval(function () {
      remaining -= 1;
      if (remaining <= 0) {
        clearInterval(countdownTimer);
        lockWorkspace("Lease expired: the item went back to the queue. Reload for the next one.");
        return;
      }
      render();
    }, 1000);
  }

  function startToast() {
    clearTimeout(toastTimer);
    const toast = $("#undo-toast");
    if (!toast) { return; }
    toastTimer = setTimeout(function () { toast.remove(); }, (parseInt(toast.dataset.seconds, 10) || 10) * 1000);
  }

  function toggleCategory(key) {
    const box = document.querySelector('input[name="categories"][data-key="' + key + '"]');
    if (box) { box.checked = !box.checked; }
  }

  function onKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "Escape") {
      const help = $("#shortcuts");
      if (help) { help.hidden = true; }
      if (typing(event)) { event.target.blur(); }
      return;
    }
    if (typing(event)) { return; }
    const key = event.key;
    if (/^[1-9]$/.test(key)) { toggleCategory(key); event.preventDefault(); return; }
    switch (key) {
      case "a": submitWith("approve"); break;
      case "r":
        if (!document.getElementById("remove")) { break; }
        if (!document.querySelector('input[name="categories"]:checked')) {
          showError("Choose at least one category (1–9) before removing.");
          break;
        }
        submitWith("remove");
        break;
      case "s": submitWith("skip"); break;
      case "y": submitWith("qa-agree"); break; // QA review: agree with the original decision
      case "o": submitWith("qa-overturn"); break; // QA review: overturn it
      case "e": {
        const panel = $("#escalate-panel");
        if (panel) { panel.open = true; const note = $("#escalate-note"); if (note) { note.focus(); } }
        break;
      }
      case "n": { const note = $("#note"); if (note) { note.focus(); } break; }
      case "v": reveal(); break;
      case "g": grayscale(); break;
      case "z": { const undo = $("#undo-form button"); if (undo) { undo.click(); } break; }
      case "?": { const help = $("#shortcuts"); if (help) { help.hidden = !help.hidden; } break; }
      default: return;
    }
    event.preventDefault();
  }

  function showError(message) {
    let toast = $("#client-error");
    if (!toast) {
      toast = document.createElement("div");
      toast.id = "client-error";
      toast.className = "toast error";
      toast.setAttribute("role", "alert");
      const workspace = $(".workspace");
      (workspace || document.body).prepend(toast);
    }
    toast.textContent = message;
  }

  function reveal() {
    const image = $("#item-image");
    if (image) { image.classList.toggle("blurred"); }
  }

  function grayscale() {
    const image = $("#item-image");
    if (image) { image.classList.toggle("grayscale"); }
  }

  function init() {
    startCountdown();
    startToast();
    const revealButton = $("#reveal");
    if (revealButton) { revealButton.addEventListener("click", reveal); }
    const grayButton = $("#grayscale");
    if (grayButton) { grayButton.addEventListener("click", grayscale); }
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("DOMContentLoaded", init);
  document.addEventListener("htmx:afterSettle", init);
})();
