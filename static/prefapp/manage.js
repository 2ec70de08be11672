// The manage page's own script (a static file: the Content-Security-Policy runs no inline script).

// The annotators filter of the export form: a search box narrows the list of checkboxes,
// so one name among hundreds is found by typing, and the count says how many are ticked
// (ticked names stay ticked while hidden).
function setUpFilterList(list) {
  const input = list.querySelector("[data-filter-input]");
  const count = list.querySelector("[data-filter-count]");
  const items = Array.from(list.querySelectorAll("[data-filter-items] input[type=checkbox]"));
  const update = () => {
    const query = input.value.trim().toLowerCase();
    for (const box of items) {
      const row = box.closest("div") || box.parentElement;
      row.hidden = query !== "" && !box.parentElement.textContent.toLowerCase().includes(query);
    }
    const ticked = items.filter((box) => box.checked).length;
    count.textContent = ticked ? `${ticked} ticked` : "everyone";
  };
  input.addEventListener("input", update);
  // Enter in the search box narrows the list; it must not submit the export form.
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") event.preventDefault();
  });
  for (const box of items) box.addEventListener("change", update);
  update();
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-filter-list]").forEach(setUpFilterList);
  // The counters poll their partial; a session that expired answers with the login page
  // (after a redirect), which must not be swapped into the counters.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const { target, xhr } = event.detail;
    if (target.id !== "progress") return;
    const answered = xhr.responseURL ? new URL(xhr.responseURL).pathname : "";
    if (!answered.endsWith("/manage/progress/")) event.detail.shouldSwap = false;
  });
});
