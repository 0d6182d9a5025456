// The tools' forms: recalculate when a choice changes (the form works without this: "Calculate").
// No inline script anywhere: the page's CSP allows scripts from this site only.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  for (const form of document.querySelectorAll("form[data-autosubmit]")) {
    form.addEventListener("change", (event) => {
      // Selects answer at once; a typed number waits for the visitor to leave the box or press Enter.
      if (event.target.tagName === "SELECT") {
        dropEmpty(form);
        form.submit();
      }
    });
    form.addEventListener("submit", () => dropEmpty(form));
  }
});

// Empty boxes are left out of the URL, so a permalink carries only what the visitor chose.
function dropEmpty(form) {
  for (const element of form.elements) {
    if (element.name && element.value === "") element.disabled = true;
  }
  // Re-enable after the browser has read the form (a back navigation shows it whole).
  setTimeout(() => { for (const element of form.elements) element.disabled = false; }, 0);
}
