// Keyboard labelling: 1 left, 2 right, 3 tie, 4 both bad, Z/X/C strength, Enter submits,
// S skips, U undoes the last answer, I folds the instructions. Keys typed into the rationale
// box are left alone (Ctrl+Enter submits from there, Esc leaves it).
//
// The page never loses an answer: it is kept in sessionStorage under its lease's id (a reload
// or the back button shows it again), a session that ended keeps it until the person has
// logged in again and then sends it once, and the lease is extended while they work.
(function () {
  let shownAt = performance.now();
  const form = () => document.getElementById("judgment-form");
  const sides = { "1": "left", "2": "right", "3": "tie", "4": "both_bad" };
  const strengths = { z: "1", x: "2", c: "3" };
  const PREFIX = "prefapp:answer:";
  const PENDING = "prefapp:pending"; // a lease whose answer waits for a login to be sent

  function hint(text) {
    const el = document.getElementById("work-hint");
    if (el) el.textContent = text;
  }

  // ---------------------------------------------------------------- the answer, kept

  const store = {
    get(key) { try { return sessionStorage.getItem(key); } catch { return null; } },
    set(key, value) { try { sessionStorage.setItem(key, value); } catch { /* private mode */ } },
    remove(key) { try { sessionStorage.removeItem(key); } catch { /* private mode */ } },
    keys() { try { return Object.keys(sessionStorage); } catch { return []; } },
  };

  function save(f) {
    const answer = {
      side: f.querySelector('input[name="side"]:checked')?.value || "",
      strength: f.querySelector('input[name="strength"]:checked')?.value || "",
      rationale: f.querySelector('textarea[name="rationale"]')?.value || "",
    };
    store.set(PREFIX + f.dataset.assignment, JSON.stringify(answer));
  }

  function restore(f) {
    let answer;
    try { answer = JSON.parse(store.get(PREFIX + f.dataset.assignment) || "null"); } catch { answer = null; }
    if (!answer) return false;
    for (const name of ["side", "strength"]) {
      const input = answer[name] && f.querySelector(`input[name="${name}"][value="${answer[name]}"]`);
      if (input) input.checked = true;
    }
    const reason = f.querySelector('textarea[name="rationale"]');
    if (reason && answer.rationale) reason.value = answer.rationale;
    fitStrength(f);
    return Boolean(answer.side);
  }

  // Only the pair on screen and the one before it (which Undo brings back) stay stored.
  function prune(keep) {
    for (const key of store.keys()) {
      if (key.startsWith(PREFIX) && !keep.includes(key.slice(PREFIX.length))) store.remove(key);
    }
  }

  // ---------------------------------------------------------------- keys and choices

  function pick(name, value) {
    const f = form();
    const input = f?.querySelector(`input[name="${name}"][value="${value}"]`);
    if (!input) return;
    if (input.disabled) { hint("Strength is only for left or right better."); return; }
    input.checked = true;
    hint("");
    if (name === "side") fitStrength(f);
    save(f);
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
  function ready(el) {
    if (window.htmx) window.htmx.process(el);
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
    const undo = document.getElementById("undo-form");
    if (key === "u" && undo) { event.preventDefault(); ready(undo); undo.requestSubmit(); return; }
    if (!f) return;
    if (sides[key]) { pick("side", sides[key]); event.preventDefault(); }
    else if (strengths[key]) { pick("strength", strengths[key]); event.preventDefault(); }
    else if (key === "enter") {
      if (event.target.matches("a, button")) return; // Enter follows a focused link or button
      event.preventDefault();
      submit(f);
    }
    else if (key === "s" && !f.dataset.sent) {
      event.preventDefault();
      f.dataset.sent = "1";
      ready(f);
      f.querySelector("button.skip").click();
    }
  });

  document.addEventListener("change", (event) => {
    const f = event.target.form;
    if (f?.id !== "judgment-form") return;
    if (event.target.name === "side") fitStrength(f);
    save(f);
  });
  document.addEventListener("input", (event) => {
    if (event.target.form?.id === "judgment-form" && event.target.name === "rationale") save(event.target.form);
  });

  // Submissions by mouse get the time spent too.
  document.addEventListener("submit", (event) => {
    if (event.target.id === "judgment-form") stamp(event.target);
  }, true);

  // ---------------------------------------------------------------- the server's answers

  // The session ended (the server answers an htmx request 401): keep the answer, and after the
  // login (which comes back to this page and this lease) send it once.
  function sessionEnded(f, wasSubmit) {
    if (!f) return;
    save(f);
    if (wasSubmit) store.set(PENDING, f.dataset.assignment);
    delete f.dataset.sent;
    hint("");
    const notice = document.getElementById("session-ended");
    if (notice) {
      notice.hidden = false;
      document.getElementById("log-in-again")?.focus();
    }
  }

  document.addEventListener("htmx:sendError", () => {
    const f = form();
    if (!f) return;
    delete f.dataset.sent;
    hint("Could not reach the server; your answer is kept on this page. Press Enter to try again.");
  });
  document.addEventListener("htmx:responseError", (event) => {
    const f = form();
    const status = event.detail.xhr.status;
    if (status === 401) {
      const login = document.getElementById("work")?.dataset.loginUrl;
      if (!f && login) { window.location.assign(login); return; } // nothing on screen to keep
      sessionEnded(f, event.detail.elt === f || event.detail.requestConfig?.elt === f);
      return;
    }
    if (!f) return;
    delete f.dataset.sent;
    hint(`The server answered with an error (${status}); your answer is kept on this page. ` +
         "Press Enter to try again.");
  });

  // ---------------------------------------------------------------- the lease timer

  // Shown once half the lease is gone; a warning in its last minute. While the person is
  // active on the page (keys, pointer, scrolling, typing) the lease is extended to a full
  // length again, at most once a minute.
  let timer = null;
  let lastActive = performance.now();
  ["keydown", "pointerdown", "pointermove", "input", "scroll", "wheel", "touchstart"].forEach((name) =>
    document.addEventListener(name, () => { lastActive = performance.now(); }, { passive: true, capture: true }));

  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch { return ""; }
  }

  function startTimer(f) {
    if (timer) clearInterval(timer);
    const total = Number(f.dataset.leaseMinutes) * 60;
    let deadline = performance.now() + Number(f.dataset.leaseSeconds) * 1000;
    let lastExtended = performance.now();
    let extending = false;
    const el = document.getElementById("lease-timer");

    async function extend() {
      extending = true;
      try {
        const response = await fetch(f.dataset.extendUrl, {
          method: "POST",
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken(), "HX-Request": "true" },
          body: new URLSearchParams({ assignment_id: f.dataset.assignment }),
        });
        if (response.status === 401) { sessionEnded(form(), false); return; }
        const data = await response.json();
        deadline = performance.now() + data.seconds_left * 1000;
        lastExtended = performance.now();
      } catch { /* offline: try again at the next tick */ }
      finally { extending = false; }
    }

    function tick() {
      if (!document.body.contains(f)) { clearInterval(timer); return; }
      const now = performance.now();
      const left = Math.max(0, Math.round((deadline - now) / 1000));
      const active = lastActive > lastExtended;
      if (!extending && active && left > 0 && (left < total / 2 || left < 60) && now - lastExtended > 60000) {
        extend();
      }
      if (!el) return;
      el.hidden = left >= total / 2 && left >= 60;
      el.classList.toggle("warn", left < 60);
      const clock = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      el.textContent = left > 0
        ? `${clock} left on this pair` + (left < 60 ? ": keep working here to keep it" : "")
        : "Time is up on this pair; it may have gone to someone else.";
    }
    tick();
    timer = setInterval(tick, 1000);
  }

  // ---------------------------------------------------------------- a new piece of work

  let previousAssignment = "";
  function arrived() {
    shownAt = performance.now();
    const undo = document.getElementById("undo-form");
    if (undo) setTimeout(() => undo.remove(), Number(undo.dataset.undoSeconds) * 1000);
    const f = form();
    if (!f) return;
    const id = f.dataset.assignment;
    prune([id, previousAssignment, undo?.dataset.assignment || ""]);
    previousAssignment = id;
    const restored = restore(f);
    startTimer(f);
    const pending = store.get(PENDING);
    if (pending && pending === id && restored) {
      store.remove(PENDING);
      hint("Sending the answer you gave before logging in again…");
      submit(f);
    } else if (pending && pending !== id) {
      // Its lease ran out while the person was away: say so rather than drop it silently.
      store.remove(PENDING);
      hint("The pair you answered before logging in again went back to the pool meanwhile; " +
           "that answer could not be sent. Here is the next pair.");
    }
  }

  document.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target?.id === "work") arrived();
  });
  // After htmx (and its configuration) are set up, so that a pending answer goes as htmx.
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", arrived);
  else arrived();
})();
