/* The orders list's count and total: asked for once the page's rows are shown, since
 * over a large set they take longer than the rows. */
(() => {
  "use strict";
  const sum = document.getElementById("order-sum");
  if (!sum || !sum.dataset.src) return;
  fetch(sum.dataset.src, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then((answer) => answer.json())
    .then((figures) => {
      if (figures.text) sum.textContent = figures.text;
      else if (figures.errors) sum.textContent = Object.values(figures.errors).join(" ");
    })
    .catch(() => {});
})();
