/* The packing slip's print button. A script file rather than an onclick attribute:
 * the pages' Content-Security-Policy runs no inline script. */
(() => {
  "use strict";
  for (const button of document.querySelectorAll("[data-action='print']")) {
    button.addEventListener("click", () => window.print());
  }
})();
