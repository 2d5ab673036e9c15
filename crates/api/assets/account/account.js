// Customer account pages: progressive enhancement only (every page works
// without script). Moves focus to an error so screen readers announce it,
// and stops a form from being sent twice by a double click.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const error = document.getElementById("error");
  if (error) {
    error.focus();
  }
  for (const form of document.querySelectorAll("form[method=post]")) {
    form.addEventListener("submit", (event) => {
      if (form.dataset.sent === "1") {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      for (const button of form.querySelectorAll("button[type=submit]")) {
        button.setAttribute("aria-busy", "true");
      }
    });
  }
});
