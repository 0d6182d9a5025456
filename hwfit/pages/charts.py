"""Plotly figures (plain dicts, embedded with json_script and drawn by static/js/charts.js).

Every figure plots values read from the API's result objects; nothing is recomputed here except
the roofline's own line, min(peak, bandwidth x intensity), drawn from the peak and bandwidth
the estimate used.
"""

from __future__ import annotations

from typing import Any

from .tables import PageRow

VERDICT_COLOURS = {"fits": "#2e7d32", "offload": "#b26a00", "multi_device": "#0b6bcb", "no_fit": "#b00020",
                   "unsupported": "#b00020", "unknown": "#8a949e"}
VERDICT_LABELS = {"fits": "runs on one device", "offload": "offload", "multi_device": "several devices",
                  "no_fit": "does not fit", "unsupported": "unsupported", "unknown": "unknown"}
MEMORY_COLOURS = {"weights": "#0b6bcb", "KV cache": "#6a3d9a", "activations": "#e08a00", "overhead": "#8a949e"}
SERIES_COLOURS = ("#0b6bcb", "#b00020", "#2e7d32", "#6a3d9a", "#e08a00", "#00838f", "#5d4037")
GIB = 2.0**30


def _short(value: float) -> str:
    """An axis label: 1024 -> 1k, 131072 -> 128k, 15 -> 15."""
    if value >= 1024 and value % 1024 == 0:
        return f"{value / 1024:g}k"
    return f"{value:g}"


def _log_axis(title: str, values: list[float]) -> dict[str, Any]:
    """A log axis ticked at the sweep's own points (not plotly's 2 3 4 ... 9 between decades)."""
    ticks = sorted({float(v) for v in values if v})
    return {"title": {"text": title}, "type": "log", "tickvals": ticks, "ticktext": [_short(v) for v in ticks]}


def _layout(title: str, **extra: Any) -> dict[str, Any]:
    layout = {"title": {"text": title, "font": {"size": 15}, "y": 0.98, "yanchor": "top"},
              "margin": {"l": 60, "r": 20, "t": 70, "b": 60},
              "font": {"family": "system-ui, sans-serif", "size": 12}, "paper_bgcolor": "rgba(0,0,0,0)",
              "plot_bgcolor": "rgba(0,0,0,0)", "legend": {"orientation": "h", "x": 0, "y": 1.0, "yanchor": "bottom"}}
    layout.update(extra)
    return layout


def speed_by_device(rows: list[PageRow]) -> dict[str, Any]:
    """Horizontal bars of tok/s per device, coloured by verdict, with the error band as error bars."""
    shown = sorted((row for row in rows if row.record["tokens_per_s"] is not None),
                   key=lambda row: row.record["tokens_per_s"])
    data = []
    for verdict in VERDICT_COLOURS:
        part = [row for row in shown if row.record["verdict"] == verdict]
        if not part:
            continue
        speeds = [row.record["tokens_per_s"] for row in part]
        data.append({
            "type": "bar", "orientation": "h", "name": VERDICT_LABELS[verdict],
            "y": [row.record["device"]["name"] for row in part], "x": speeds,
            "marker": {"color": VERDICT_COLOURS[verdict]},
            "error_x": {"type": "data", "array": [s * (row.record["error_band"] or 0) for s, row in zip(speeds, part)],
                        "thickness": 1, "width": 2},
            "hovertemplate": "%{y}: %{x:.3s} tok/s<extra></extra>",
        })
    order = [row.record["device"]["name"] for row in shown]
    return {"data": data, "layout": _layout(
        "Tokens/s by device", height=max(260, 18 * len(shown) + 130), barmode="overlay",
        xaxis={"title": {"text": "tokens/s (bars: the error band)"}, "rangemode": "tozero"},
        yaxis={"categoryorder": "array", "categoryarray": order, "automargin": True, "tickfont": {"size": 10}})}


def memory_by_quantization(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Stacked memory (GB) per quantization, against the device's usable memory."""
    names = [record["quantization"]["name"] for record in records]
    parts = {"weights": ("weights_bytes", "vision_bytes"), "KV cache": ("kv_cache_bytes",),
             "activations": ("activations_bytes", "logits_bytes"), "overhead": ("overhead_bytes",)}
    data = [{
        "type": "bar", "name": label, "x": names, "marker": {"color": MEMORY_COLOURS[label]},
        "y": [None if record["memory"]["total_bytes"] is None else
              sum(record["memory"][key] or 0 for key in keys) / GIB for record in records],
        "hovertemplate": f"{label}: %{{y:.3s}} GB<extra></extra>",
    } for label, keys in parts.items()]
    usable = records[0]["memory"]["usable_bytes"] if records else None
    shapes = []
    if usable:
        shapes.append({"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": usable / GIB, "y1": usable / GIB,
                       "line": {"color": "#b00020", "dash": "dash", "width": 1.5}})
    return {"data": data, "layout": _layout(
        "Memory by quantization", barmode="stack", height=380, shapes=shapes,
        yaxis={"title": {"text": "GB (dashed: usable)"}}, xaxis={"tickangle": -40, "automargin": True})}


def speed_by_context(records: list[dict[str, Any]]) -> dict[str, Any]:
    """tok/s against the context, one line per device."""
    series: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        series.setdefault(record["device"]["name"], []).append(record)
    data = [{
        "type": "scatter", "mode": "lines+markers", "name": name, "line": {"color": SERIES_COLOURS[i % len(SERIES_COLOURS)]},
        "x": [r["workload"]["context_tokens"] for r in points], "y": [r["tokens_per_s"] for r in points],
        "hovertemplate": f"{name}<br>%{{x:,}} tokens: %{{y:.3s}} tok/s<extra></extra>",
    } for i, (name, points) in enumerate(series.items())]
    return {"data": data, "layout": _layout(
        "Tokens/s against context", height=380,
        xaxis=_log_axis("context (tokens)", [r["workload"]["context_tokens"] for r in records]),
        yaxis={"title": {"text": "tokens/s"}, "rangemode": "tozero"})}


def _intensity_point(record: dict[str, Any]) -> tuple[float, float] | None:
    """(FLOP per byte, FLOP/s reached per device) of the row's figure: a decode pass, the prefill, or
    the diffusion. FLOPs and bytes count every device, so the intensity holds for one of them and the
    rate is shared out: a point on several devices sits under the one device's roof."""
    working, speed = record["working"], record["speed"]
    if record["mode"] == "prefill":
        flops, moved, seconds = working["prefill_flops"], working["prefill_bytes"], speed["prefill_s"]
    elif record["mode"] == "diffusion":
        flops, moved, seconds = working["diffusion_flops"], working["diffusion_bytes"], speed["diffusion_s"]
    else:
        flops, moved, seconds = working["decode_flops"], working["decode_bytes"], working["decode_pass_s"]
    if not flops or not moved or not seconds:
        return None
    return flops / moved, flops / seconds / (record["workload"]["device_count"] or 1)


def roofline(rows: list[PageRow]) -> dict[str, Any] | None:
    """Attainable FLOP/s against arithmetic intensity for each peak the rows use, the rows on it."""
    roofs: dict[tuple[float, float], set[str]] = {}
    for row in rows:
        working = row.record["working"]
        if working["peak_flops"] and working["bandwidth_bytes_per_s"]:
            roofs.setdefault((working["peak_flops"], working["bandwidth_bytes_per_s"]), set()).add(row.record["runtime"])
    if not roofs:
        return None
    points = [(row, _intensity_point(row.record)) for row in rows if row.record["tokens_per_s"] is not None]
    points = [(row, point) for row, point in points if point is not None]
    intensities = [point[0] for _, point in points] + [peak / bandwidth for peak, bandwidth in roofs]
    low, high = min(intensities) / 4, max(intensities) * 4
    data = []
    for i, ((peak, bandwidth), runtimes) in enumerate(sorted(roofs.items(), reverse=True)):
        ridge = peak / bandwidth
        label = f"roof at {peak / 1e12:,.0f} TFLOPS ({', '.join(sorted(runtimes))})"
        colour = SERIES_COLOURS[i % len(SERIES_COLOURS)]
        xs = [low, ridge, high] if low < ridge < high else [low, high]
        data.append({"type": "scatter", "mode": "lines", "name": label, "x": xs,
                     "y": [min(peak, bandwidth * x) for x in xs], "line": {"color": colour, "width": 2},
                     "hoverinfo": "skip"})
        data.append({"type": "scatter", "mode": "markers+text", "name": f"ridge {ridge:,.0f} FLOP/byte",
                     "x": [ridge], "y": [peak], "marker": {"symbol": "diamond", "size": 10, "color": colour},
                     "text": [f"ridge {ridge:,.0f} FLOP/B"], "textposition": "top left", "showlegend": False,
                     "hovertemplate": "ridge point: %{x:.3s} FLOP/byte, %{y:.3s} FLOP/s<extra></extra>"})
    for verdict in ("fits", "offload", "multi_device"):
        part = [(row, point) for row, point in points if row.record["verdict"] == verdict]
        if part:
            data.append({"type": "scatter", "mode": "markers", "name": VERDICT_LABELS[verdict],
                         "x": [point[0] for _, point in part], "y": [point[1] for _, point in part],
                         "text": [f"{row.record['model']['name']} ({row.record['mode']})" for row, _ in part],
                         "marker": {"color": VERDICT_COLOURS[verdict], "size": 7, "opacity": 0.8},
                         "hovertemplate": "%{text}<br>%{x:.3s} FLOP/byte, %{y:.3s} FLOP/s<extra></extra>"})
    return {"data": data, "layout": _layout(
        "Roofline", height=420,
        xaxis={"title": {"text": "arithmetic intensity (FLOP per byte moved)"}, "type": "log", "dtick": 1},
        yaxis={"title": {"text": "FLOP/s reached"}, "type": "log", "dtick": 1, "exponentformat": "SI"})}


def diffusion_sweep(points: list[tuple[float, dict[str, Any] | None, dict[str, Any] | None]], *,
                    axis: str, model_name: str, sibling_name: str) -> dict[str, Any]:
    """Diffusion tok/s and its AR sibling's decode tok/s along `axis` (tokens per forward or batch)."""
    xs = [x for x, _, _ in points]
    diffusion = [None if d is None else d["speed"]["diffusion_tokens_per_s"] for _, d, _ in points]
    autoregressive = [None if a is None else a["speed"]["decode_tokens_per_s"] for _, _, a in points]
    data = [
        {"type": "scatter", "mode": "lines+markers", "name": f"{model_name} (diffusion)", "x": xs, "y": diffusion,
         "line": {"color": SERIES_COLOURS[0]}, "hovertemplate": "%{x}: %{y:.3s} tok/s<extra></extra>"},
        {"type": "scatter", "mode": "lines+markers", "name": f"{sibling_name} (AR decode)", "x": xs,
         "y": autoregressive, "line": {"color": SERIES_COLOURS[1], "dash": "dash"},
         "hovertemplate": "%{x}: %{y:.3s} tok/s<extra></extra>"},
    ]
    title = {"tokens_per_forward": "tokens committed per forward", "batch": "batch (concurrent sequences)"}[axis]
    return {"data": data, "layout": _layout(
        f"Tokens/s against {title.split(' (')[0]}", height=360,
        xaxis=_log_axis(title, xs), yaxis={"title": {"text": "tokens/s"}, "rangemode": "tozero"})}
