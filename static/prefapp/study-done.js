// The completion page of a crowd study: after a moment to note the code, post the MTurk
// assignment or follow the link back to the platform (a static file: the CSP allows no inline
// script). Both stay on the page as a button and a link for when scripts are off.
document.addEventListener("DOMContentLoaded", () => {
  const DELAY_MS = 3000;
  const form = document.querySelector("form[data-auto-submit]");
  const link = document.querySelector("a[data-auto-follow]");
  if (form) {
    window.setTimeout(() => form.requestSubmit(), DELAY_MS);
  } else if (link) {
    window.setTimeout(() => window.location.assign(link.href), DELAY_MS);
  }
});
