// Detect my device: read what the browser exposes about its GPU (WebGPU adapter info, the WebGL
// renderer string, navigator.deviceMemory), ask this site which catalog devices match, and
// propose the best one in the page's device select (the visitor can change it). Nothing is sent
// anywhere but this site's own /detect/ endpoint. Without JavaScript the button stays hidden.
"use strict";

async function browserReport() {
  const report = { renderer: "", vendor: "", architecture: "", description: "", memory: null };
  try {
    if (navigator.gpu) {
      const adapter = await navigator.gpu.requestAdapter();
      const info = adapter && (adapter.info || (adapter.requestAdapterInfo && await adapter.requestAdapterInfo()));
      if (info) {
        report.vendor = info.vendor || "";
        report.architecture = info.architecture || "";
        report.description = info.description || info.device || "";
      }
    }
  } catch (error) { /* WebGPU refused: the WebGL string may still say enough */ }
  try {
    const gl = document.createElement("canvas").getContext("webgl");
    const debug = gl && gl.getExtension("WEBGL_debug_renderer_info");
    report.renderer = gl ? String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER)) : "";
  } catch (error) { /* no WebGL */ }
  report.memory = navigator.deviceMemory || null;
  return report;
}

function say(box, text) { box.textContent = text; }

async function detect(container) {
  const result = container.querySelector("[data-detect-result]");
  const select = document.getElementById(container.dataset.target);
  say(result, "Reading what your browser says about its GPU…");
  const report = await browserReport();
  const seen = [report.renderer, report.description, report.vendor, report.architecture].filter(Boolean).join(" · ");
  const memory = report.memory ? ` · about ${report.memory} GB of RAM (the browser rounds it)` : "";
  if (!seen) {
    say(result, "Your browser does not say which GPU it has: pick your device in the list." + memory);
    return;
  }
  const query = new URLSearchParams({ renderer: report.renderer, vendor: report.vendor,
    architecture: report.architecture, description: report.description });
  const response = await fetch(`${container.dataset.url}?${query}`, { headers: { Accept: "application/json" } });
  const { candidates } = response.ok ? await response.json() : { candidates: [] };
  if (!candidates.length) {
    say(result, `Your browser reports “${seen}”${memory}; no catalog device matches it: pick yours in the list.`);
    return;
  }
  if (select) select.value = candidates[0].slug;
  const others = candidates.slice(1).map((c) => c.name).join(", ");
  say(result, `Your browser reports “${seen}”${memory}. Proposed: ${candidates[0].name}` +
    (others ? ` (or ${others})` : "") + ". Change it in the list if it is not yours.");
}

document.addEventListener("DOMContentLoaded", () => {
  for (const container of document.querySelectorAll("[data-detect]")) {
    container.hidden = false;
    container.querySelector("[data-detect-button]").addEventListener("click", () => {
      detect(container).catch(() => say(container.querySelector("[data-detect-result]"),
        "Detection failed: pick your device in the list."));
    });
  }
});
