// Compare: tok/s (with the estimate's error band) and $/1M tokens per device or model, drawn with
// the vendored plotly.js from the data the page embeds (json_script, no inline script).
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const source = document.getElementById("compare-data");
  if (!source || typeof Plotly === "undefined") return;
  const data = JSON.parse(source.textContent);
  if (!data.labels.length) return;
  const config = { displayModeBar: false, responsive: true };
  // Titles are the page's headings; the legend sits above the plot, clear of the tilted names.
  const layout = (yTitle) => ({
    margin: { t: 36, r: 10, b: 90, l: 60 },
    yaxis: { title: { text: yTitle }, rangemode: "tozero" },
    xaxis: { automargin: true },
    legend: { orientation: "h", x: 0, y: 1.0, yanchor: "bottom" },
    paper_bgcolor: "rgba(0,0,0,0)",
    plot_bgcolor: "rgba(0,0,0,0)",
  });
  const speeds = data.tokens_per_s.map((v) => (v === null ? 0 : v));
  Plotly.newPlot("compare-speed", [{
    type: "bar",
    x: data.labels,
    y: speeds,
    marker: { color: data.verdicts.map((v) => (v === "fits" ? "#2e7d32" : v === "offload" || v === "multi_device" ? "#c77700" : "#9aa5ae")) },
    error_y: { type: "data", array: speeds.map((v, i) => v * (data.error_band[i] || 0)), visible: true },
    customdata: data.modes,
    hovertemplate: "%{x}: %{y:,.1f} tok/s (%{customdata})<extra></extra>",
  }], layout(data.modes.every((m) => m === data.modes[0]) ? `tok/s (${data.modes[0]})` : "tok/s"), config);

  const costs = [
    ["Electricity", data.energy_usd_per_mtok, "#3b6fb6"],
    ["Rent", data.rental_usd_per_mtok, "#e08a1e"],
    ["Hosted API", data.api_usd_per_mtok, "#7d5bb5"],
  ].filter(([, values]) => values.some((v) => v !== null));
  Plotly.newPlot("compare-cost", costs.map(([name, values, color]) => ({
    type: "bar", name, x: data.labels, y: values, marker: { color },
    hovertemplate: `${name}: $%{y:,.2f} per 1M tokens<extra></extra>`,
  })), { ...layout("$ / 1M tokens"), barmode: "group" }, config);
});
