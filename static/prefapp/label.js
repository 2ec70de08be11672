// Keyboard labelling: 1 left, 2 right, 3 tie, 4 both bad, Z/X/C strength, Enter submits,
// S skips, I folds the instructions. Keys typed into the rationale box are left alone
// (Ctrl+Enter submits from there, Esc leaves it).
(function () {
  let shownAt = performance.now();
  const form = () => document.getElementById("judgment-form");
  const sides = { "1": "left", "2": "right", "3": "tie", "4": "both_bad" };
  const strengths = { z: "1", x: "2", c: "3" };

  function hint(text) {
    const el = document.getElementById("work-hint");
    if (el) el.textContent = text;
  }

  function pick(name, value) {
    const f = form();
    const input = f?.querySelector(`input[name="${name}"][value="${value}"]`);
    if (!input) return;
    if (input.disabled) { hint("Strength is only for left or right better."); return; }
    input.checked = true;
    hint("");
    if (name === "side") fitStrength(f);
  }

  // Strength says how much better one side is: a tie or "both bad" has none (the server
  // drops one sent with them), so picking one of those clears and disables it.
  function fitStrength(f) {
    const side = f.querySelector('input[name="side"]:checked')?.value;
    const none = side === "tie" || side === "both_bad";
    f.querySelectorAll('input[name="strength"]').forEach((input) => {
      input.disabled = none;
      if (none) input.checked = false;
    });
  }

  function stamp(f) {
    f.querySelector('input[name="time_spent_ms"]').value = Math.round(performance.now() - shownAt);
  }

  function submit(f) {
    if (f.dataset.sent) return; // one submission per pair; the server is idempotent anyway
    if (!f.querySelector('input[name="side"]:checked')) {
      hint("Pick an answer first: 1, 2" + (f.querySelector('input[value="tie"]') ? ", 3" : "") +
           (f.querySelector('input[value="both_bad"]') ? ", 4" : "") + ".");
      return;
    }
    f.dataset.sent = "1";
    stamp(f);
    ready(f);
    f.requestSubmit();
  }

  // htmx wires up swapped-in content when the swap settles, a moment after it appears; a key
  // pressed in between would submit the bare form and reload the page. Wiring it up now is
  // harmless (htmx skips elements it has processed) and keeps the submission an htmx one.
  function ready(f) {
    if (window.htmx) window.htmx.process(f);
  }

  document.addEventListener("keydown", (event) => {
    const f = form();
    if (event.altKey || event.metaKey || event.isComposing) return;
    const typing = event.target.matches("textarea, input[type=text], input[type=password], select");
    if (typing) {
      if (!f) return;
      if (event.key === "Enter" && event.ctrlKey) { event.preventDefault(); submit(f); }
      else if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.ctrlKey) return;
    const key = event.key.toLowerCase();
    if (key === "i") {
      const details = document.getElementById("instructions");
      if (details) { details.open = !details.open; event.preventDefault(); }
      return;
    }
    if (!f) return;
    if (sides[key]) { pick("side", sides[key]); event.preventDefault(); }
    else if (strengths[key]) { pick("strength", strengths[key]); event.preventDefault(); }
    else if (key === "enter") { event.preventDefault(); submit(f); }
    else if (key === "s" && !f.dataset.sent) {
      event.preventDefault();
      f.dataset.sent = "1";
      ready(f);
      f.querySelector("button.skip").click();
    }
  });

  document.addEventListener("change", (event) => {
    if (event.target.name === "side" && event.target.form?.id === "judgment-form") {
      fitStrength(event.target.form);
    }
  });

  // Submissions by mouse get the time spent too.
  document.addEventListener("submit", (event) => {
    if (event.target.id === "judgment-form") stamp(event.target);
  }, true);

  // A dropped connection or a server error leaves the pair on screen: say so and allow a
  // retry (resubmitting the same lease stores one judgment, never two).
  function failed() {
    const f = form();
    if (!f) return;
    delete f.dataset.sent;
    hint("Could not reach the server; nothing changed on this page. Press Enter to try again.");
  }
  document.addEventListener("htmx:sendError", failed);
  document.addEventListener("htmx:responseError", failed);
  document.addEventListener("htmx:afterSwap", () => { shownAt = performance.now(); });
})();
