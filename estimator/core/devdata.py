"""The dev files (measured runs) as workloads on catalog rows: the input of the prior fit and of
the accuracy report.

    dev_fitset(data_dir, models, quants, devices) -> (FitSet, rows, positions)
        rows: one per CSV row, with its catalog mapping or the reason it is excluded.

The catalog frames come from `catalog_sources` (passed in: the core reads no catalog CSV).
Measured-run names are mapped to catalog NAMES by the tables below; a run whose model, device or
format is not in the catalog, or whose device lacks the bandwidth a prediction needs, is kept in
`rows` with `excluded` saying why, and counted in the summary — never silently dropped.

How each row becomes a workload (fixtures/sources/README.md "Measured runs ... read before fitting"):
- `tg` = batch-1 decode; `tgN` generates N tokens from an empty cache (mean cached length N/2),
  `tgN@dD` decodes with D tokens already cached; `pp` = prompt processing, `ppN@dD` after D.
- n_devices > 1: llama.cpp and ExLlama split layers (devices work in turn), MLC/vLLM are tensor
  parallel with two all-reduces per layer over the stated PCIe link.
- llama.cpp builds of late 2023 (build number < 1800 or dated 2023) are runtime
  "llama-cpp@2023", a build era with its own prior under "llama-cpp" (the README: slower,
  especially prompt processing). `-ub 2048` sets the prefill chunk.
- Diffusion rows (HF transformers, A100): `devdata_diffusion.diffusion_rows` (docs/diffusion.md
  §2.5-§2.6; workload facts in estimator/data/diffusion_benchmarks.json).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd

from estimator.core import fit as fit_mod
from estimator.core import pipeline
from estimator.core.priors import DATA_DIR, load_constants
from estimator.core.workloads import Reduced

# --- Name maps: measured-run names -> catalog names --------------------------------------------
# Only where the name differs; a device or model missing here is looked up under its own name.
MODEL_NAMES: dict[str, str | None] = {
    "LLaMA 7B v2 (Llama-2-7B)": "Llama 2 7B",
    "Llama-2-7B": "Llama 2 7B",
    # LLaMA-1 7B and Llama-2 7B share every shape (32 x 4096, 32 heads, FFN 11008, vocab 32000);
    # only the trained context differs, which a tg128/pp512 run does not reach.
    "LLaMA 7B (llama-bench 'llama 7B'; v1/v2 not stated)": "Llama 2 7B",
    "Llama-2-13B": "Llama 2 13B",
    "Llama-2-70B": "Llama 2 70B",
    "CodeLlama-34B": "CodeLlama 34B",
    "Qwen3-Coder-30B-A3B-Instruct": "Qwen3 Coder 30B-A3B Instruct",
    "Qwen2.5-Coder-7B": "Qwen2.5 Coder 7B",
    "Qwen2.5-Coder 7B": "Qwen2.5 Coder 7B",
    "gemma-3-4b-it-qat": "Gemma 3 4B IT",             # QAT changes weights, not shapes
    "Mistral-7B-Instruct-v0.2": "Mistral 7B Instruct v0.2",
    "Llama-3.2-3B-Instruct": "Llama 3.2 3B",
    "TinyLlama 1.1B": "TinyLlama 1.1B Chat v1.0",
    "Qwen3 30B-A3B (MoE)": "Qwen3 30B-A3B",
    "Qwen 3 30B-A3B": "Qwen3 30B-A3B",
    "Qwen2.5 14B": "Qwen2.5 14B Instruct",            # base and instruct share the config
    "OpenAI gpt-oss 20B": "gpt-oss-20b",
    "OpenAI gpt-oss 120B": "gpt-oss-120b",
    "Llama 4 Scout": "Llama 4 Scout 17B-16E",
    "Qwen 3 235B-A22B": "Qwen3 235B-A22B",
    "Qwen 3 32B": "Qwen3 32B",
    # Not in the catalog (reported to the catalog owner, not invented here):
    "Qwen3-Coder-Next 80B-A3B (MoE)": None, "Shisa V2 8B": None, "Shisa V2 70B": None,
    "GLM 4.5 Air": None, "dots1": None, "Hunyuan-A13B": None, "Mistral Small 3.1": None,
}

DEVICE_NAMES: dict[str, str | None] = {
    "NVIDIA A100 PCIe 80GB": "NVIDIA A100 80GB PCIe",
    "AMD Ryzen AI Max+ 395 (Radeon 8060S iGPU)": "AMD Ryzen AI Max+ 395 (Strix Halo)",
    "NVIDIA GB10 (DGX Spark)": "NVIDIA DGX Spark (GB10 Grace Blackwell)",
    "Intel Arc A770": "Intel Arc A770 16GB",
    # devices.csv gives Apple's top GPU bin of each chip (data README): these ARE those rows.
    "Apple M1 Max (32-core GPU)": "Apple M1 Max",
    "Apple M1 Pro (16-core GPU)": "Apple M1 Pro",
    "Apple M3 (10-core GPU)": "Apple M3",
    "Apple M4 (10-core GPU)": "Apple M4",
    # 40/80 GB and PCIe/SXM A100s differ by up to 31% in bandwidth: not guessed.
    "NVIDIA A100 (variant not stated)": None,
}

QUANT_NAMES: dict[str, str | None] = {
    "MXFP4": "MXFP4 (GGUF)",
    # MLC q4f16_1: 4-bit weights with one fp16 scale per 32 = 4.5 bits per weight, Q4_0's layout.
    "q4f16_1": "Q4_0",
    # Unsloth dynamic mixes ("UD-"), imatrix quants ("i1-") and renamed files: the K-quant they
    # are built on (same block format; UD files keep a few more tensors at higher precision).
    "UD-Q4_K_XL": "Q4_K_M", "UD-Q6_K_XL": "Q6_K", "UD-Q3_K_XL": "Q3_K_M", "i1-Q4_K_M": "Q4_K_M",
    "Q4_K_M (file gpt-oss-20b-Q4_K_M.gguf)": "Q4_K_M",
    "GPTQ 4-bit": "GPTQ int4 (group_size 128)",
    "GPTQ 4-bit (TheBloke Llama-2-*-GPTQ)": "GPTQ int4 (group_size 128)",
    "AWQ 4-bit": "AWQ int4 (group_size 128)",
    # Neural Speed's int4 symmetric, fp16 scale per 128: GPTQ's layout without zeros.
    "INT4 sym g128 (comp fp32)": "GPTQ int4 (group_size 128)",
    "Q4_1": None,   # not in quant_formats.csv
}

RUNTIME_OF_ENGINE = (
    (re.compile(r"llama\.cpp", re.I), "llama-cpp"),
    (re.compile(r"MLC", re.I), "mlc-llm"),
    (re.compile(r"vLLM", re.I), "vllm"),
    (re.compile(r"SGLang", re.I), "sglang"),
    (re.compile(r"ExLlama", re.I), "exllama"),
    (re.compile(r"Neural Speed", re.I), "intel-neural-speed"),
)
LAYER_SPLIT_RUNTIMES = ("llama-cpp", "exllama")


# llama.cpp build numbers below this are late-2023 builds (b1800 ~ early January 2024).
LLAMA_CPP_2024_BUILD = 1800


def runtime_of(engine: str, build: str, note: str = "") -> str:
    """Runtime slug of a measured row, with the build era "@2023" for 2023 builds.

    A 2023 build (a llama.cpp build number below 1800, or a build or note dated 2023) is an era
    of its runtime with a prior of its own: the data README warns that late-2023 llama.cpp is
    slower, and the Oct-2023 vLLM/MLC/ExLlama of the MLC benchmark predate CUDA graphs. Today's
    runtime then falls back to its own newer rows, or to the global prior, never to 2023's.
    """
    runtime = next((slug for pattern, slug in RUNTIME_OF_ENGINE if pattern.search(engine)), "unknown")
    number = re.search(r"\(b?(\d{3,5})\)", build) if runtime == "llama-cpp" else None
    if number:
        old = int(number.group(1)) < LLAMA_CPP_2024_BUILD
    else:
        old = "2023" in build or (("not stated" in build or not build.strip()) and "2023" in note)
    return f"{runtime}@2023" if old else runtime


def flash_attention_of(runtime: str, engine: str, note: str) -> float:
    """1 where a llama.cpp row states -fa 1 (engine or note 'fa=1'), 0 for its other rows: llama-bench
    ran without flash attention unless told (`flash_attn` default false); NaN (fused) elsewhere."""
    if runtime.split("@")[0] != "llama-cpp":
        return np.nan
    return 1.0 if re.search(r"-fa 1\b|\bfa=1\b", f"{engine} {note}") else 0.0


def parse_test(metric: str, test: str) -> dict[str, float]:
    """Workload of a measured row from `metric` and `prompt_or_gen_len` (README conventions)."""
    match = re.match(r"(tg|pp)(\d+)(?:@d(\d+))?", test)
    if match:
        length, depth = float(match.group(2)), float(match.group(3) or 0)
    elif (found := re.search(r"(?:gen|decode|prompt)\s+(\d+)", test)):
        # "./main -n N": a short prompt then N tokens; "decode 256 tokens, short prompt" (~16).
        length, depth = float(found.group(1)), (16.0 if metric == "tg" else 0.0)
    else:
        # "not stated": llama-bench's defaults, tg128 / pp512.
        length, depth = (128.0 if metric == "tg" else 512.0), 0.0
    if metric == "tg":
        return {"metric": "decode", "decode_context": depth + length / 2.0, "prompt_len": 1.0,
                "prefill_depth": 0.0, "numerator": 1.0}
    return {"metric": "prefill", "decode_context": depth + length, "prompt_len": length,
            "prefill_depth": depth, "numerator": length}


def _by_name(frame: pd.DataFrame) -> dict[str, int]:
    return {name: i for i, name in enumerate(frame["name"])}


def _resolve(names: pd.Series, table: dict, catalog: dict[str, int]) -> tuple[np.ndarray, list[str]]:
    index, reasons = np.full(len(names), -1), []
    for i, name in enumerate(names):
        target = table.get(name, name)
        if target is None:
            reasons.append("not in catalog")
        elif target not in catalog:
            reasons.append(f"catalog has no '{target}'")
        else:
            index[i] = catalog[target]
            reasons.append("")
    return index, reasons


def measured_rows(runs: pd.DataFrame, models: pd.DataFrame, quants: pd.DataFrame, devices: pd.DataFrame) -> pd.DataFrame:
    """measured_runs_dev.csv rows with catalog indices, workload and exclusion reason."""
    m_idx, m_why = _resolve(runs["model"], MODEL_NAMES, _by_name(models))
    q_idx, q_why = _resolve(runs["quant"], QUANT_NAMES, _by_name(quants))
    d_idx, d_why = _resolve(runs["device"], DEVICE_NAMES, _by_name(devices))
    tests = pd.DataFrame([parse_test(m, str(t)) for m, t in zip(runs["metric"], runs["prompt_or_gen_len"])])
    runtime = [runtime_of(str(e), str(b), str(n)) for e, b, n in zip(runs["engine"], runs["engine_build"], runs["note"])]
    chunk = [2048.0 if "-ub 2048" in str(e) else np.nan for e in runs["engine"]]
    flash = [flash_attention_of(r, str(e), str(n)) for r, e, n in zip(runtime, runs["engine"], runs["note"])]
    parallel = ["layers" if r.split("@")[0] in LAYER_SPLIT_RUNTIMES else "tensor" for r in runtime]
    excluded = [
        "; ".join(f"{what}: {why}" for what, why in (("model", a), ("format", b), ("device", c)) if why)
        for a, b, c in zip(m_why, q_why, d_why)
    ]
    return pd.DataFrame({
        "source_file": "measured_runs_dev.csv", "source_row": runs.index.to_numpy(),
        "model": runs["model"].to_numpy(), "quant": runs["quant"].to_numpy(), "device": runs["device"].to_numpy(),
        "runtime": runtime, "n_devices": runs["n_devices"].astype(float).to_numpy(), "parallel": parallel,
        "test": runs["prompt_or_gen_len"].to_numpy(), "measured_tok_s": runs["tokens_per_s"].astype(float).to_numpy(),
        "model_index": m_idx, "quant_index": q_idx, "device_index": d_idx, "prefill_chunk": chunk,
        "flash_attention": flash,
        "gen_len": 256.0, "block_size": np.nan, "tokens_per_forward": np.nan, "steps_per_block": np.nan,
        "diffusion_cache": "dual", "excluded": excluded, **{c: tests[c].to_numpy() for c in tests.columns},
    })


_WORKLOAD_COLUMNS = ("runtime", "n_devices", "parallel", "prefill_chunk", "flash_attention", "gen_len", "block_size",
                     "tokens_per_forward", "steps_per_block", "diffusion_cache", "decode_context",
                     "prompt_len", "prefill_depth")


def build_fitset(rows: pd.DataFrame, models: pd.DataFrame, quants: pd.DataFrame, devices: pd.DataFrame,
                 priors: dict, *, keep_stand_in_roofs: bool = False) -> tuple[fit_mod.FitSet, np.ndarray]:
    """The FitSet of the rows that can be predicted, and their positions in `rows`.

    Rows whose prediction is impossible (device without bandwidth, or without peak FLOP/s for a
    compute-bound figure) get `excluded` filled in place. keep_stand_in_roofs: rows answered with a
    stand-in peak (a GPU whose compute dtype has no published peak) stay in the set, out of the
    fit (`FitSet.in_fit`), with the reason in `rows["not_fitted"]` — the accuracy report counts
    them as answers; the prior fit never sees them.
    """
    ok = (rows["excluded"] == "").to_numpy()
    use = rows[ok]
    frame = pipeline.paired_scenarios(
        models.iloc[use["model_index"]].reset_index(drop=True),
        quants.iloc[use["quant_index"]].reset_index(drop=True),
        devices.iloc[use["device_index"]].reset_index(drop=True),
        batch=1, context=np.maximum(use["decode_context"].to_numpy(), use["prompt_len"].to_numpy() + use["prefill_depth"].to_numpy()) + 1,
        **{c: use[c].to_numpy() for c in _WORKLOAD_COLUMNS},
    )
    prep = pipeline.prepare(frame, priors, configuration="given")
    metric = use["metric"].to_numpy()
    # One workload per row, padded to the same number of slots (count 0 adds nothing).
    parts = {"decode": prep.reduced["decode"], "prefill": prep.reduced["prefill"]}
    if "diffusion" in prep.reduced:
        (steps, rows_), (pre, _) = prep.reduced["diffusion"], prep.reduced["diffusion_prefill"]
        parts["diffusion"] = _concat(steps, pre).expand(rows_, len(metric))
    width = max(r.count.shape[0] for r in parts.values())
    reduced = _select(parts, metric, width)
    fs = fit_mod.FitSet(
        metric=metric, runtime=prep.runtime.values, kind=prep.kind.values, device_class=prep.device_class.values,
        device=prep.device_slug.values,
        n_layers=prep.m.n_layers, dequant_class=prep.dequant_class.values,
        numerator=use["numerator"].to_numpy(dtype=float), measured=use["measured_tok_s"].to_numpy(dtype=float),
        reduced=reduced, issue_rate=prep.issue_rate,
    )
    # A row the roofline cannot evaluate: no bandwidth; no peak for a compute-bound workload; or
    # a GPU whose compute dtype has no published peak, so that an FP32/shader rate would stand in
    # for tensor-core kernels (a catalog gap, reported; Apple GPUs run FP16 at their FP32 rate).
    probe = fit_mod.predict(fs, {p: np.full(len(fs), v) for p, v in fit_mod.ANCHOR.items()},
                            fit_mod.ClassTables(np.zeros(len(fs)), np.ones(len(fs)), 0.0))
    compute_bound = metric != "decode"
    wrong_roof = compute_bound & prep.peak_is_fallback & prep.kind.eq("gpu")
    bad = ~np.isfinite(probe) | wrong_roof
    positions = np.flatnonzero(ok)
    if keep_stand_in_roofs:
        answerable = wrong_roof & np.isfinite(probe)
        fs.in_fit = ~answerable
        rows["not_fitted"] = ""
        rows.loc[rows.index[positions[answerable]], "not_fitted"] = np.char.add(
            "stand-in peak (", np.char.add(prep.peak_source.values.astype(str)[answerable], ")"))
        bad = bad & ~answerable
    if bad.any():
        reasons = np.where(np.isnan(prep.bandwidth), "device: no memory bandwidth in catalog",
                           np.where(wrong_roof, np.char.add("device: no peak for the compute dtype in catalog (only ",
                                                            np.char.add(prep.peak_source.values.astype(str), ")")),
                                    "device: no peak FLOP/s in catalog"))
        rows.loc[rows.index[positions[bad]], "excluded"] = reasons[bad]
        fs = fs.subset(~bad)
        positions = positions[~bad]
    return fs, positions


def _concat(a: Reduced, b: Reduced) -> Reduced:
    from dataclasses import fields
    return Reduced(**{f.name: np.concatenate([getattr(a, f.name), getattr(b, f.name)]) for f in fields(a)})


def _select(parts: dict[str, Reduced], metric: np.ndarray, width: int) -> Reduced:
    from dataclasses import fields
    n = len(metric)
    out = {f.name: np.zeros((width, n), dtype=bool if f.name == "small" else np.float64) for f in fields(Reduced)}
    out["bandwidth"][:] = 1.0   # padding slots: count 0, and no 0/0
    for name, red in parts.items():
        rows = metric == name
        if name == "decode":
            rows = rows | (metric == "decode")
        for f in fields(Reduced):
            value = np.nan_to_num(getattr(red, f.name)[:, rows], nan=np.nan) if f.name != "small" else getattr(red, f.name)[:, rows]
            out[f.name][: value.shape[0], rows] = value
    return Reduced(**out)


def load_dev_rows(data_dir: Path | str, models: pd.DataFrame, quants: pd.DataFrame, devices: pd.DataFrame,
                  benchmarks_path: Path | str | None = None) -> pd.DataFrame:
    """Both dev files as one frame of rows (mapped or excluded)."""
    data_dir = Path(data_dir)
    from estimator.core.devdata_diffusion import diffusion_rows
    with open(benchmarks_path or DATA_DIR / "diffusion_benchmarks.json", encoding="utf-8") as handle:
        benchmarks = json.load(handle)
    measured = pd.read_csv(data_dir / "measured_runs_dev.csv")
    diffusion = pd.read_csv(data_dir / "diffusion_runs_dev.csv")
    return pd.concat([measured_rows(measured, models, quants, devices),
                      diffusion_rows(diffusion, models, quants, devices, benchmarks)], ignore_index=True)


def dev_fitset(data_dir: Path | str, models: pd.DataFrame, quants: pd.DataFrame, devices: pd.DataFrame,
               constants: dict | None = None, *, keep_stand_in_roofs: bool = False,
               ) -> tuple[fit_mod.FitSet, pd.DataFrame, np.ndarray]:
    """(FitSet, all rows, positions of the FitSet rows in `rows`) for the two dev files."""
    rows = load_dev_rows(data_dir, models, quants, devices)
    priors_shell = {"constants": constants or load_constants(), "groups": [], "dequant_ops_per_weight": {}}
    fs, positions = build_fitset(rows, models, quants, devices, priors_shell, keep_stand_in_roofs=keep_stand_in_roofs)
    return fs, rows, positions


