"""How the diffusion dev rows become forwards: answer lengths, tokens per forward, cache schemes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from estimator.core.devdata_diffusion import _task, answer_tokens, denoising_steps, min_forwards
from estimator.core.priors import DATA_DIR

TABLE = {"gsm8k": {"256": 231}, "math": {"256": 243, "512": 384}, "mbpp": {"512": 65}}


def test_it_takes_the_answer_length_published_for_the_canvas_and_caps_it_by_the_canvas():
    assert answer_tokens(TABLE, "math", 256) == 243
    assert answer_tokens(TABLE, "math", 512) == 384      # the longer canvas has its own figure
    assert answer_tokens(TABLE, "math", 1024) == 384
    assert answer_tokens(TABLE, "gsm8k", 1024) == 231
    assert answer_tokens(TABLE, "mbpp", 256) == 65       # only a longer canvas listed: its figure
    assert answer_tokens(TABLE, "gsm8k", 128) == 128     # never more than the canvas
    assert np.isnan(answer_tokens(TABLE, "humaneval", 256))


def test_it_gives_a_cached_block_at_least_two_forwards():
    # Fast-dLLM's cached loops call the model once more after the refresh forward, even when the
    # refresh completed the block; the uncached loop tests before the next call.
    assert min_forwards("prefix") == min_forwards("dual") == 2.0
    assert min_forwards("none") == 1.0
    # An answer of one block in a 1024 canvas: the 31 EOS blocks cost 2 forwards each when cached.
    _, cached = denoising_steps("llada", "prefix", True, 4.0, 1024.0, 32.0, 32.0)
    _, uncached = denoising_steps("llada", "none", True, 4.0, 1024.0, 32.0, 32.0)
    assert cached * 32 == pytest.approx(8 + 31 * 2)
    assert uncached * 32 == pytest.approx(8 + 31 * 1)


def test_it_spends_answer_blocks_at_the_published_rate_and_eos_blocks_at_the_minimum():
    # GSM8K-like: 231 answer tokens fill 8 blocks of a 256 canvas; at gen 512 eight EOS blocks follow.
    _, at_256 = denoising_steps("llada", "none", True, 3.25, 256.0, 32.0, 231.0)
    _, at_512 = denoising_steps("llada", "none", True, 3.25, 512.0, 32.0, 231.0)
    assert at_256 * 8 == pytest.approx(8 * 32 / 3.25)
    assert at_512 * 16 == pytest.approx(8 * 32 / 3.25 + 8)
    # A rate above the block size cannot go below the scheme's minimum.
    assert denoising_steps("llada", "dual", True, 64.0, 256.0, 32.0, 256.0)[1] == 2.0


def test_it_runs_dream_without_a_cache_over_the_whole_canvas_and_with_one_after_a_one_token_refresh():
    block, steps = denoising_steps("dream", "none", True, 2.0, 256.0, 32.0, np.inf)
    assert (block, steps) == (256.0, 128.0)
    block, steps = denoising_steps("dream", "prefix", True, 2.0, 256.0, 32.0, np.inf)
    assert (block, steps) == (32.0, 1.0 + 31.0 / 2.0)
    # One token per forward (no threshold rule): the workload's default of B forwards per block.
    assert np.isnan(denoising_steps("dream", "none", False, 1.0, 256.0, 32.0, np.inf)[1])


def test_it_uses_the_prompt_setting_the_harness_ran_over_the_table_label():
    assert _task("Math 4-shot prompt", "math-0shot") == ("math", "math-0shot")
    assert _task("GSM8K 5-shot prompt (len not stated)", "") == ("gsm8k", "gsm8k-5shot")
    assert _task("GSM8K 5-shot prompt (len not stated)", float("nan")) == ("gsm8k", "gsm8k-5shot")


def test_it_names_a_source_for_every_workload_fact():
    facts = json.loads((DATA_DIR / "diffusion_benchmarks.json").read_text(encoding="utf-8"))
    runs = pd.read_csv(DATA_DIR.parents[1] / "fixtures" / "sources" / "diffusion_runs_dev.csv")
    settings = set(runs["prompt_setting"].dropna())
    assert settings <= set(facts["prompt_tokens_assumed"])   # every prompt the harnesses ran has a length
    for family, tasks in facts["tokens_per_forward"].items():
        for task, entry in (tasks.items() if isinstance(tasks, dict) else ()):
            if task != "about":
                assert entry["tpf"] >= 1.0 and entry["source"], (family, task)
    assert set(facts["answer_tokens"]["llada_instruct"]) <= set(facts["answer_tokens"]["sources"])
