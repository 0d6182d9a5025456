"""Benchmark outputs of real runtimes -> measured-run lines (pure; no Django, no catalog lookups).

    parse_measured(text, fmt, defaults) -> (lines, errors)

Formats:
    csv              the measured-runs format (fixtures/sources/measured_runs_dev.csv's columns)
    llama-bench-md   llama-bench's default markdown table (| model | size | params | backend | ... | test | t/s |)
    llama-bench-json llama-bench -o json (a list of objects; jsonl, -o jsonl, works too)
    vllm / sglang    benchmark_serving / bench_serving result JSON (one object, a list, or JSON lines)

Every line becomes a dict with the workload the estimator needs (`metric`, `decode_context`,
`prompt_len`, `prefill_depth`, `numerator`, `batch`) and the names of what ran (`model`,
`quantization`, `device`, `runtime`); `defaults` (model, quantization, device, runtime,
n_devices) fill what a format does not say. A line that cannot be read is an error naming its
line number, the field and the reason.
"""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any

from estimator.core.devdata import parse_test, runtime_of

FORMATS = ("csv", "llama-bench-md", "llama-bench-json", "vllm", "sglang")
CSV_REQUIRED = ("engine", "model", "quant", "device", "metric", "prompt_or_gen_len", "tokens_per_s")
Line = dict[str, Any]
Error = dict[str, Any]


def _number(value: Any) -> float | None:
    try:
        number = float(str(value).replace(",", "").split("±")[0].strip())
    except (TypeError, ValueError):
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def _line(n: int, *, model: str, quantization: str, device: str, runtime: str, metric: str, test: str,
          tokens_per_s: float, batch: int = 1, n_devices: int = 1, note: str = "", raw: Any = None,
          workload: dict[str, float] | None = None, prefill_chunk: float | None = None) -> Line:
    work = workload or parse_test(metric, test)
    numerator = work["numerator"] * (batch if work["metric"] == "decode" else 1)
    return {"line": n, "model": model, "quantization": quantization, "device": device, "runtime": runtime,
            "metric": work["metric"], "test": test, "batch": batch, "n_devices": n_devices,
            "tokens_per_s": tokens_per_s, "note": note, "raw": raw, "numerator": numerator,
            "decode_context": work["decode_context"], "prompt_len": work["prompt_len"],
            "prefill_depth": work["prefill_depth"], "prefill_chunk": prefill_chunk}


def _need(defaults: dict[str, Any], n: int, errors: list[Error], *names: str) -> bool:
    missing = [name for name in names if not str(defaults.get(name) or "").strip()]
    for name in missing:
        errors.append({"line": n, "field": name, "reason": "not in this format: give it with the upload"})
    return not missing


def parse_csv(text: str, defaults: dict[str, Any]) -> tuple[list[Line], list[Error]]:
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        return [], [{"line": 1, "field": c, "reason": "column missing from the header"} for c in missing]
    lines, errors = [], []
    for n, row in enumerate(reader, start=2):
        rate = _number(row.get("tokens_per_s"))
        if rate is None or rate <= 0:
            errors.append({"line": n, "field": "tokens_per_s", "reason": f"not a positive number: {row.get('tokens_per_s')!r}"})
            continue
        metric = (row.get("metric") or "").strip()
        if metric not in ("tg", "pp"):
            errors.append({"line": n, "field": "metric", "reason": f"tg or pp, got {metric!r}"})
            continue
        batch = _number(row.get("batch") or 1)
        n_devices = _number(row.get("n_devices") or 1)
        if batch is None or batch < 1 or n_devices is None or n_devices < 1:
            errors.append({"line": n, "field": "batch", "reason": "batch and n_devices are whole numbers >= 1"})
            continue
        engine = row.get("engine") or ""
        lines.append(_line(
            n, model=row["model"].strip(), quantization=row["quant"].strip(), device=row["device"].strip(),
            runtime=str(defaults.get("runtime") or runtime_of(engine, row.get("engine_build") or "", row.get("note") or "")),
            metric=metric, test=str(row["prompt_or_gen_len"]).strip(), tokens_per_s=rate, batch=int(batch),
            n_devices=int(n_devices), note=(row.get("note") or "")[:500], raw=row,
            prefill_chunk=2048.0 if "-ub 2048" in engine else None))
    return lines, errors


_TEST = re.compile(r"^(pp|tg)(\d+)(?:@d(\d+))?$")


def _llama_test(test: str) -> str | None:
    match = _TEST.match(test.strip())
    return match.group(1) if match else None


def parse_llama_bench_md(text: str, defaults: dict[str, Any]) -> tuple[list[Line], list[Error]]:
    lines, errors = [], []
    header: list[str] | None = None
    for n, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip().startswith("|"):
            continue
        cells = [c.strip() for c in raw.strip().strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            if "test" not in header or "t/s" not in header:
                return [], [{"line": n, "field": "header", "reason": "a llama-bench table has 'test' and 't/s' columns"}]
            continue
        if set("".join(cells)) <= set("-: "):
            continue   # the |---|---:| rule under the header
        row = dict(zip(header, cells))
        # Builds with --n-depth print "pp512 @ d4096".
        test, rate = row.get("test", "").replace(" ", ""), _number(row.get("t/s"))
        kind = _llama_test(test)
        if kind is None:
            errors.append({"line": n, "field": "test", "reason": f"ppN, tgN or ppN@dD, got {test!r}"})
            continue
        if rate is None or rate <= 0:
            errors.append({"line": n, "field": "t/s", "reason": f"not a positive number: {row.get('t/s')!r}"})
            continue
        if not _need(defaults, n, errors, "model", "quantization", "device"):
            continue
        lines.append(_line(n, model=defaults["model"], quantization=defaults["quantization"], device=defaults["device"],
                           runtime=defaults.get("runtime") or "llama-cpp", metric=kind, test=test, tokens_per_s=rate,
                           n_devices=int(defaults.get("n_devices") or 1), raw=row,
                           note=f"llama-bench {row.get('model', '')} {row.get('backend', '')}".strip()))
    if header is None:
        errors.append({"line": 1, "field": "text", "reason": "no llama-bench table found"})
    return lines, errors


def _json_objects(text: str) -> tuple[list[tuple[int, Any]], list[Error]]:
    """(line number, object) for a JSON document (object or list) or JSON lines."""
    try:
        value = json.loads(text)
        return [(i + 1, v) for i, v in enumerate(value if isinstance(value, list) else [value])], []
    except json.JSONDecodeError:
        pass
    out, errors = [], []
    for n, raw in enumerate(text.splitlines(), start=1):
        if raw.strip():
            try:
                out.append((n, json.loads(raw)))
            except json.JSONDecodeError as exc:
                errors.append({"line": n, "field": "json", "reason": f"not JSON: {exc.msg}"})
    return out, errors


def parse_llama_bench_json(text: str, defaults: dict[str, Any]) -> tuple[list[Line], list[Error]]:
    objects, errors = _json_objects(text)
    lines = []
    for n, obj in objects:
        if not isinstance(obj, dict) or "avg_ts" not in obj:
            errors.append({"line": n, "field": "avg_ts", "reason": "a llama-bench result object has avg_ts"})
            continue
        n_prompt, n_gen, depth = int(obj.get("n_prompt") or 0), int(obj.get("n_gen") or 0), int(obj.get("n_depth") or 0)
        if (n_prompt > 0) == (n_gen > 0):
            errors.append({"line": n, "field": "n_prompt", "reason": "exactly one of n_prompt and n_gen is > 0"})
            continue
        rate = _number(obj["avg_ts"])
        if rate is None or rate <= 0:
            errors.append({"line": n, "field": "avg_ts", "reason": "not a positive number"})
            continue
        kind = "pp" if n_prompt else "tg"
        test = f"{kind}{n_prompt or n_gen}" + (f"@d{depth}" if depth else "")
        if not _need(defaults, n, errors, "model", "quantization", "device"):
            continue
        build = f"{obj.get('build_commit', '')} ({obj.get('build_number', '')})"
        ubatch = obj.get("n_ubatch")
        lines.append(_line(n, model=defaults["model"], quantization=defaults["quantization"], device=defaults["device"],
                           runtime=defaults.get("runtime") or runtime_of("llama.cpp", build), metric=kind, test=test,
                           tokens_per_s=rate, n_devices=int(defaults.get("n_devices") or 1), raw=obj,
                           note=f"llama-bench {obj.get('model_type', '')} {obj.get('gpu_info', '')}".strip(),
                           prefill_chunk=float(ubatch) if ubatch else None))
    return lines, errors


def parse_serving(text: str, defaults: dict[str, Any], runtime: str) -> tuple[list[Line], list[Error]]:
    """vLLM benchmark_serving / SGLang bench_serving results: the batched decode rate from TPOT.

    A result at concurrency c decodes c sequences at once, each at 1000 / TPOT tokens/s, so
    the decode rate is c x 1000 / median TPOT; the cached length is the mean input plus half
    the mean output (the mid-point of the decode).
    """
    objects, errors = _json_objects(text)
    lines = []
    for n, obj in objects:
        if not isinstance(obj, dict):
            errors.append({"line": n, "field": "json", "reason": "an object per result"})
            continue
        tpot = _number(obj.get("median_tpot_ms") or obj.get("mean_tpot_ms"))
        batch = _number(obj.get("max_concurrency"))
        done = _number(obj.get("completed"))
        inputs, outputs = _number(obj.get("total_input_tokens")), _number(obj.get("total_output_tokens"))
        problems = [(f, r) for f, ok, r in (
            ("median_tpot_ms", tpot is not None and tpot > 0, "needed (time per output token)"),
            ("max_concurrency", batch is not None and batch >= 1, "needed: the batch the rate was measured at"),
            ("completed", done is not None and done > 0, "needed (requests completed)"),
            ("total_input_tokens", inputs is not None and outputs is not None, "needed with total_output_tokens"),
        ) if not ok]
        if problems:
            errors.extend({"line": n, "field": f, "reason": r} for f, r in problems)
            continue
        if not _need(defaults, n, errors, "model", "quantization", "device"):
            continue
        b = int(batch)
        mean_in, mean_out = inputs / done, outputs / done
        workload = {"metric": "decode", "decode_context": mean_in + mean_out / 2.0, "prompt_len": 1.0,
                    "prefill_depth": 0.0, "numerator": 1.0}
        lines.append(_line(n, model=defaults["model"], quantization=defaults["quantization"], device=defaults["device"],
                           runtime=defaults.get("runtime") or runtime, metric="tg",
                           test=f"serve c{b} in{mean_in:.0f} out{mean_out:.0f}", tokens_per_s=b * 1000.0 / tpot,
                           batch=b, n_devices=int(defaults.get("n_devices") or 1), workload=workload,
                           raw={k: v for k, v in obj.items() if not isinstance(v, list)},
                           note=f"{runtime} serving benchmark, {obj.get('backend', '')}".strip()))
    return lines, errors


def parse_measured(text: str, fmt: str, defaults: dict[str, Any] | None = None) -> tuple[list[Line], list[Error]]:
    """Lines and errors of one upload; `fmt` is one of FORMATS."""
    defaults = dict(defaults or {})
    if not text or not text.strip():
        return [], [{"line": 0, "field": "text", "reason": "empty upload"}]
    if fmt == "csv":
        return parse_csv(text, defaults)
    if fmt == "llama-bench-md":
        return parse_llama_bench_md(text, defaults)
    if fmt == "llama-bench-json":
        return parse_llama_bench_json(text, defaults)
    if fmt in ("vllm", "sglang"):
        return parse_serving(text, defaults, fmt)
    return [], [{"line": 0, "field": "format", "reason": f"one of {', '.join(FORMATS)}"}]
