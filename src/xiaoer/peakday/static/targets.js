// The targets page: show only the fields of the chosen period, and refresh the
// progress table from its fragment while the page is open (as the floor refreshes).
"use strict";

const REFRESH_MS = 20000;

function showPeriodFields(form) {
  const chosen = form.querySelector("select.target-period");
  if (!chosen) return;
  for (const group of form.querySelectorAll(".for-period")) {
    group.hidden = group.dataset.period !== chosen.value;
  }
}

for (const form of document.querySelectorAll("form.target-form")) {
  showPeriodFields(form);
  form.querySelector("select.target-period")?.addEventListener("change", () => showPeriodFields(form));
}

const box = document.getElementById("target-progress");
async function refresh() {
  if (!box || document.hidden) return;
  try {
    const answer = await fetch(box.dataset.refresh, { credentials: "same-origin" });
    if (answer.ok) box.innerHTML = await answer.text();
  } catch (_) {
    // The next round tries again; the figures shown stay until then.
  }
}
if (box) setInterval(refresh, REFRESH_MS);
