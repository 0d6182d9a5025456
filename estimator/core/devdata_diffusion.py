"""The diffusion dev file (fixtures/sources/diffusion_runs_dev.csv) as decoding workloads.

    diffusion_rows(runs, models, quants, devices, benchmarks) -> rows (one per CSV row)

Each row is an HF-transformers run of a full-attention diffusion model (LLaDA, Dream) with one of
Fast-dLLM's cache schemes. What a row's tokens/s counts and how many forwards it ran follow the
evaluation code that produced it (docs/diffusion.md §2.5-§2.6); the workload facts (prompt
lengths, answer lengths, tokens per forward) are in estimator/data/diffusion_benchmarks.json, each
with its source. Nothing here is fitted.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

DIFFUSION_MODEL_NAMES: dict[str, str | None] = {
    "LLaDA-8B-Instruct": "LLaDA 8B Instruct",
    "LLaDA-Instruct-8B": "LLaDA 8B Instruct",
    "Dream-v0-Base-7B": "Dream v0 Base 7B",
    # d3LLM models are distilled LLaDA / Dream: same shapes (the d3LLM catalog rows have none).
    "d3LLM-LLaDA": "LLaDA 8B Instruct",
    "d3LLM-Dream": "Dream v0 Base 7B",
    "Qwen-2.5-7B (AR)": "Qwen2.5 7B Instruct",
}

DIFFUSION_DEVICE_NAMES: dict[str, str | None] = {
    # Fast-dLLM says "A100 80GB" without the form factor; SXM and PCIe share the peaks and differ
    # by 5% in bandwidth. Assumption: SXM (the usual cluster part).
    "A100 80GB": "NVIDIA A100 80GB SXM",
    "A100-PCIe-40GB": "NVIDIA A100 40GB PCIe",
    "A100": None,   # variant not stated
    "H100": None,   # PCIe vs SXM differ 1.7x in bandwidth: not guessed
}

DIFFUSION_METHODS: dict[str, tuple[str, bool] | None] = {
    # method -> (cache scheme, parallel decoding by threshold?)
    "baseline (no cache, 1 token/step, steps=gen_len)": ("none", False),
    "baseline LLaDA": ("none", False),
    "LLaDA-Instruct": ("none", False),
    "+PrefixCache (1 token/step)": ("prefix", False),
    "+Parallel (no cache)": ("none", True),
    "Parallel, no cache": ("none", True),
    "Fast-dLLM = PrefixCache+Parallel": ("prefix", True),
    "Parallel+PrefixCache": ("prefix", True),
    "Fast-dLLM (Prefix-Cache)": ("prefix", True),
    "Parallel+DualCache": ("dual", True),
    "Fast-dLLM (Dual-Cache)": ("dual", True),
    "HF backend": ("dual", True),
    "dLLM-Cache": None,   # feature caching with periodic refresh: not a scheme the model has
    "D2F-LLaDA": None,    # pipelined multi-block decoding: tokens per forward not published
}

TASKS = ("gsm8k", "math", "humaneval", "mbpp")


def _task(prompt: str, setting: str = "") -> tuple[str, str]:
    """('gsm8k', 'gsm8k-5shot'): the task and the prompt setting the harness ran.

    `setting` is the CSV's sourced `prompt_setting` (what the evaluation script ran, which can
    differ from a table's label); without it the n-shot label of the prompt description is used.
    """
    text = prompt.lower()
    task = next((t for t in TASKS if t in text), "")
    if setting and isinstance(setting, str):
        return task, setting
    shots = re.search(r"(\d+)-shot", text)
    return task, f"{task}-{shots.group(1)}shot" if shots else task


def answer_tokens(table: dict, task: str, gen: float) -> float:
    """Tokens of an instruct model's answer at generation length `gen` (docs/diffusion.md §2.6).

    `table[task]` maps generation lengths to published answer lengths; the entry at the largest
    listed length not above `gen` applies (else the smallest listed), and an answer never exceeds
    the canvas: a length measured on a 256-token canvas may be cut by it, so a longer canvas takes
    the figure published for that longer canvas where one exists.
    """
    by_gen = table.get(task)
    if not isinstance(by_gen, dict) or np.isnan(gen):
        return np.nan
    lengths = sorted((float(k), float(v)) for k, v in by_gen.items())
    below = [v for k, v in lengths if k <= gen]
    return min(gen, below[-1] if below else lengths[0][1])


def min_forwards(cache: str) -> float:
    """Fewest forwards a block costs: `generate_with_prefix_cache` / `_dual_cache` (Fast-dLLM
    llada/generate.py) run the refresh forward, then their step loop calls the model BEFORE testing
    whether the block is complete, so a cached block costs at least two; `generate` one."""
    return 1.0 if cache == "none" else 2.0


def denoising_steps(family: str, cache: str, parallel: bool, rate: float, gen: float, block: float,
                    answer: float) -> tuple[float, float]:
    """(block size, forwards per block) of a Fast-dLLM run (docs/diffusion.md §1.2).

    LLaDA (`llada/generate.py`): blocks of B; under the threshold rule a block holding answer
    tokens takes B / rate forwards on average (the first being the cache refresh when cached; the
    published TPF read as the commit rate over those blocks, docs/diffusion.md §2.5), and a block
    of trailing EOS — predicted with near-certainty — the scheme's minimum (`min_forwards`). Dream (`dream/model/`): without a cache the threshold rule runs over the
    WHOLE canvas (`generation_utils.py`: one block of `gen` tokens, gen / rate forwards); with a
    cache the refresh forward commits exactly the block's first token and the threshold steps the
    other B - 1 (`generation_utils_block.py`). Dream base rarely emits EOS, so its canvas is all
    answer. Without the threshold rule every forward commits one token: B forwards per block
    (NaN: the workload's default, ceil(B / 1)).
    """
    if not parallel or np.isnan(gen):
        return block, np.nan
    if family == "dream":
        if cache == "none":
            return gen, gen / rate
        return block, 1.0 + (block - 1.0) / rate
    n_blocks = np.ceil(gen / block)
    answer_blocks = min(np.ceil(answer / block), n_blocks) if np.isfinite(answer) else n_blocks
    floor = min_forwards(cache)
    per_answer_block = max(block / rate, floor)
    return block, float((answer_blocks * per_answer_block + (n_blocks - answer_blocks) * floor) / n_blocks)


def diffusion_rows(runs: pd.DataFrame, models: pd.DataFrame, quants: pd.DataFrame, devices: pd.DataFrame,
                   benchmarks: dict) -> pd.DataFrame:
    """diffusion_runs_dev.csv rows as decoding workloads (HF transformers, bf16)."""
    from estimator.core.devdata import _by_name, _resolve   # devdata imports this module lazily
    m_idx, m_why = _resolve(runs["model"], DIFFUSION_MODEL_NAMES, _by_name(models))
    d_idx, d_why = _resolve(runs["gpu"], DIFFUSION_DEVICE_NAMES, _by_name(devices))
    bf16 = _by_name(quants).get("BF16 (safetensors)", -1)
    prompts = benchmarks["prompt_tokens_assumed"]
    answers = benchmarks["answer_tokens"]["llada_instruct"]
    tpf_table = benchmarks["tokens_per_forward"]
    settings = runs["prompt_setting"] if "prompt_setting" in runs else pd.Series([""] * len(runs))
    records = []
    for i, row in enumerate(runs.itertuples(index=False)):
        task, task_shots = _task(str(row.prompt_len), settings.iloc[i])
        method = DIFFUSION_METHODS.get(str(row.method), None)
        why = [f"model: {m_why[i]}"] if m_why[i] else []
        why += [f"device: {d_why[i]}"] if d_why[i] else []
        gen = float(pd.to_numeric(row.gen_len, errors="coerce"))
        if method is None:
            why.append(f"method '{row.method}' not modelled")
        if np.isnan(gen):
            why.append("generation length not stated")
        ar = "(AR)" in str(row.model)
        family = "d3llm-" if str(row.model).startswith("d3LLM") else ""
        family += "dream" if "dream" in str(row.model).lower() else "llada"
        cache, parallel = method or ("dual", False)
        tpf, rate = 1.0, 1.0
        if parallel and not ar:
            key = "llada-nocache" if family == "llada" and cache == "none" else family
            entry = tpf_table.get(key, {}).get(task)
            if entry is None:
                tpf = rate = np.nan
                why.append(f"tokens per forward of {family} on {task or 'this task'} not published")
            else:
                tpf = rate = float(entry["tpf"])
        note = str(row.note)
        stated = re.search(r"generated length (\d+)", note)
        answer = answer_tokens(answers, task, gen)
        # docs/diffusion.md §2.6: what the source's tokens/s counts.
        if stated:
            numerator = float(stated.group(1))
        elif "prompt+generation" in note:
            numerator = prompts.get(task_shots, np.nan) + answer
        elif "generated non-EOS" in note:
            # Dream base rarely emits EOS: its non-EOS count is the canvas (D2F paper Table 6).
            numerator = gen
        else:
            numerator = answer
        prompt = float(prompts.get(task_shots, np.nan))
        if not ar and (np.isnan(prompt) or np.isnan(numerator)):
            why.append("prompt or answer length unknown")
        block, steps = float(row.block_size), np.nan
        if not ar and "d3llm" not in family:
            block, steps = denoising_steps(family, cache, parallel, max(rate, 1.0), gen, block,
                                           answer if family == "llada" else np.inf)
        records.append({
            "source_file": "diffusion_runs_dev.csv", "source_row": i, "model": row.model,
            "quant": "BF16 (safetensors)", "device": row.gpu, "runtime": "hf-transformers", "n_devices": 1.0,
            "parallel": "none", "test": f"{row.method} | {row.prompt_len} | gen {row.gen_len}",
            "measured_tok_s": float(row.tokens_per_s), "model_index": m_idx[i], "quant_index": bf16,
            "device_index": d_idx[i], "prefill_chunk": np.nan, "gen_len": gen, "block_size": block,
            "tokens_per_forward": tpf, "steps_per_block": steps, "diffusion_cache": cache,
            "excluded": "; ".join(why), "metric": "decode" if ar else "diffusion",
            "decode_context": prompt + (gen / 2 if not np.isnan(gen) else 0), "prompt_len": prompt,
            "prefill_depth": 0.0, "numerator": 1.0 if ar else numerator,
            "cell": f"{row.source}|{row.model}|{row.gpu}|{row.prompt_len}|{row.gen_len}",
            "is_baseline": method is not None and method == ("none", False),
        })
    return pd.DataFrame.from_records(records)
