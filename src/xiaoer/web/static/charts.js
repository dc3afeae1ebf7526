/* The charts drawn on the server (xiaoer/http/charts.py), read in the browser: hovering a
 * column (or, with the chart focused, the arrow keys) shows its label and every shown
 * series' value there; a legend entry hides or shows its series. Everything to show is in the markup already; this only reveals it. */
(() => {
  "use strict";

  function show(chart, col) {
    const tip = chart.querySelector(".chart-tip");
    const index = col.dataset.index;
    const lines = [];
    for (const group of chart.querySelectorAll("g.series:not(.off)")) {
      const mark = group.querySelector(`[data-index="${index}"]`);
      const name = group.dataset.name || "";
      const value = mark ? mark.dataset.value : "—";
      lines.push([group.dataset.series, name, value]);
      if (mark) mark.classList.add("on");
    }
    tip.replaceChildren();
    const head = document.createElement("b");
    head.textContent = col.dataset.label;
    tip.append(head);
    for (const [series, name, value] of lines) {
      const row = document.createElement("span");
      row.className = name ? `tip-row s${series}` : "tip-row";
      row.textContent = name ? `${name}: ${value}` : value;
      tip.append(row);
    }
    tip.hidden = false;
    const guide = chart.querySelector(".guide");
    const x = Number(col.getAttribute("x")) + Number(col.getAttribute("width")) / 2;
    if (guide) {
      guide.setAttribute("x1", x);
      guide.setAttribute("x2", x);
      guide.classList.add("on");
    }
    const box = chart.getBoundingClientRect();
    const at = col.getBoundingClientRect();
    const right = at.right - box.left + 8;
    const left = at.left - box.left - tip.offsetWidth - 8;
    const place = right + tip.offsetWidth > box.width && left > 0 ? left : right;
    tip.style.left = `${place + chart.scrollLeft}px`;
    tip.style.top = `${Math.max(0, at.top - box.top + Math.min(at.height / 2 - 20, 24))}px`;
  }

  function hide(chart) {
    chart.querySelector(".chart-tip").hidden = true;
    for (const mark of chart.querySelectorAll(".on")) mark.classList.remove("on");
  }

  function wire(chart) {
    for (const col of chart.querySelectorAll(".col")) {
      // The column's own title would pop up beside the tip: keep it for screen readers.
      const title = col.querySelector("title");
      if (title) {
        col.setAttribute("aria-label", title.textContent);
        title.remove();
      }
      col.addEventListener("pointerenter", () => show(chart, col));
      col.addEventListener("pointerleave", () => hide(chart));
    }
    // From the keyboard: focus the chart, then the arrow keys walk its columns.
    const cols = [...chart.querySelectorAll(".col")];
    const svg = chart.querySelector("svg.chart-svg");
    let at = -1;
    svg.addEventListener("keydown", (event) => {
      const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[event.key];
      if (!step || !cols.length) return;
      event.preventDefault();
      at = Math.min(cols.length - 1, Math.max(0, at < 0 ? 0 : at + step));
      hide(chart);
      show(chart, cols[at]);
    });
    svg.addEventListener("blur", () => hide(chart));
    for (const button of chart.querySelectorAll(".legend-item")) {
      button.addEventListener("click", () => {
        const group = chart.querySelector(`g.series[data-series="${button.dataset.series}"]`);
        const off = group.classList.toggle("off");
        button.setAttribute("aria-pressed", off ? "false" : "true");
        hide(chart);
      });
    }
  }

  for (const chart of document.querySelectorAll("[data-chart]")) wire(chart);
})();
