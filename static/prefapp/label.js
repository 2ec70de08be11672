// Keyboard labelling: 1 left, 2 right, 3 tie, 4 both bad, Z/X/C strength, Enter submits,
// S skips. Keys typed into the rationale box are left alone (Ctrl+Enter submits from there).
(function () {
  let shownAt = performance.now();
  const form = () => document.getElementById("judgment-form");
  const sides = { "1": "left", "2": "right", "3": "tie", "4": "both_bad" };
  const strengths = { z: "1", x: "2", c: "3" };

  function pick(name, value) {
    const input = form()?.querySelector(`input[name="${name}"][value="${value}"]`);
    if (input) input.checked = true;
  }

  function submit(f) {
    if (f.dataset.sent) return; // one submission per pair; the server is idempotent anyway
    if (!f.querySelector('input[name="side"]:checked')) return;
    f.dataset.sent = "1";
    f.querySelector('input[name="time_spent_ms"]').value = Math.round(performance.now() - shownAt);
    f.requestSubmit();
  }

  document.addEventListener("keydown", (event) => {
    const f = form();
    if (!f || event.altKey || event.metaKey) return;
    const typing = event.target.matches("textarea, input[type=text]");
    if (typing) {
      if (event.key === "Enter" && event.ctrlKey) { event.preventDefault(); submit(f); }
      return;
    }
    const key = event.key.toLowerCase();
    if (sides[key]) { pick("side", sides[key]); event.preventDefault(); }
    else if (strengths[key]) { pick("strength", strengths[key]); event.preventDefault(); }
    else if (key === "enter") { event.preventDefault(); submit(f); }
    else if (key === "s" && !f.dataset.sent) {
      event.preventDefault();
      f.dataset.sent = "1";
      f.querySelector("button.skip").click();
    }
  });

  document.addEventListener("submit", (event) => {
    const f = event.target;
    if (f.id === "judgment-form") {
      f.querySelector('input[name="time_spent_ms"]').value = Math.round(performance.now() - shownAt);
    }
  }, true);
  document.addEventListener("htmx:afterSwap", () => { shownAt = performance.now(); });
})();
