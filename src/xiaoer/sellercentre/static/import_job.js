// Follows a running import: polls its job until it ends, then shows the report.
(function () {
  "use strict";
  const card = document.getElementById("import-job");
  if (!card || card.dataset.status !== "running") return;
  const bar = document.getElementById("import-progress");
  const percent = document.getElementById("import-percent");
  const phase = document.getElementById("import-phase");
  async function poll() {
    try {
      const response = await fetch("/api/orders/imports/" + card.dataset.job, {
        headers: { Accept: "application/json" },
      });
      if (response.ok) {
        const job = await response.json();
        bar.value = job.percent;
        percent.textContent = job.percent + "%";
        phase.textContent = job.phase;
        if (job.status !== "running") {
          window.location.reload();
          return;
        }
      }
    } catch (error) {
      // The server may be restarting; try again.
    }
    window.setTimeout(poll, 700);
  }
  window.setTimeout(poll, 300);
})();
