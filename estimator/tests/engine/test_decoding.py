"""Commit rules and decoding modes: termination, step counts, reserved ids (docs/diffusion.md §5.5)."""

from __future__ import annotations

import math

import pytest
import torch

from estimator.engine import decoding
from estimator.engine.decoding import (
    accept_by_entropy_bound,
    commit_by_schedule,
    commit_by_threshold,
    decode_ar,
    decode_block_mask,
    decode_block_uniform,
    decode_full,
    sample_categorical,
)
from estimator.engine.engine import Engine

from .helpers import make_model, random_tokens


def _kinds(engine: Engine) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in engine.passes:
        out[p.kind] = out.get(p.kind, 0) + 1
    return out


# --- the rules as pure functions -------------------------------------------------------------------
def test_the_threshold_rule_always_commits_at_least_one_token():
    gen = torch.Generator().manual_seed(0)
    for _ in range(50):
        conf = torch.rand(4, 16, generator=gen) * 0.5          # every confidence below the threshold
        masked = torch.rand(4, 16, generator=gen) < 0.5
        masked[0] = False                                        # a finished row
        masked[1] = True
        commit = commit_by_threshold(conf, masked, threshold=0.9)
        assert commit[0].sum() == 0
        assert (commit[1:].sum(dim=-1) == (masked[1:].sum(dim=-1) > 0).long()).all()  # exactly the forced top-1
        assert not (commit & ~masked).any()
        best = conf.masked_fill(~masked, -1).argmax(dim=-1)
        assert commit[1, best[1]]


def test_the_threshold_rule_commits_every_confident_masked_position():
    conf = torch.tensor([[0.95, 0.2, 0.91, 0.99, 0.5]])
    masked = torch.tensor([[True, True, True, False, True]])
    assert commit_by_threshold(conf, masked, 0.9).tolist() == [[True, False, True, False, False]]


@pytest.mark.parametrize("tokens_per_step", [1, 3, 5, 20])
def test_the_schedule_commits_the_most_confident_masked_positions(tokens_per_step):
    gen = torch.Generator().manual_seed(1)
    conf = torch.rand(3, 10, generator=gen)
    masked = torch.rand(3, 10, generator=gen) < 0.6
    commit = commit_by_schedule(conf, masked, tokens_per_step)
    assert not (commit & ~masked).any()
    for row in range(3):
        expected = min(tokens_per_step, int(masked[row].sum()))
        assert int(commit[row].sum()) == expected
        if expected:
            worst_committed = conf[row][commit[row]].min()
            left = conf[row][masked[row] & ~commit[row]]
            assert left.numel() == 0 or left.max() <= worst_committed


def test_entropy_bound_acceptance_takes_the_lowest_entropies_and_at_least_one():
    entropy = torch.tensor([[3.0, 0.01, 2.0, 0.05, 0.02]])
    # Sorted: 0.01, 0.02, 0.05, 2.0, 3.0; sum minus max of the first k: 0, 0.01, 0.03, 0.08, 2.08.
    assert accept_by_entropy_bound(entropy, 0.05).tolist() == [[False, True, False, True, True]]
    # The max is excluded from the bound, so the 2.0 joins once the three below it fit.
    assert accept_by_entropy_bound(entropy, 0.1).tolist() == [[False, True, True, True, True]]
    big = torch.full((2, 6), 12.0)
    assert (accept_by_entropy_bound(big, 0.1).sum(dim=-1) == 1).all()  # a random model: one per step


def test_sampling_draws_from_the_distribution_and_never_a_zero_probability_id():
    gen = torch.Generator().manual_seed(5)
    probs = torch.tensor([0.1, 0.0, 0.6, 0.3, 0.0, 0.0]).expand(100_000, 6)
    draws = sample_categorical(probs, 5, gen)
    freq = torch.bincount(draws, minlength=6).double() / draws.numel()
    assert freq[1] == 0 and freq[4:].sum() == 0
    # Binomial standard error at n = 1e5 is <= 0.0016; allow 4 of them.
    assert torch.allclose(freq[:4], torch.tensor([0.1, 0.0, 0.6, 0.3], dtype=torch.float64), atol=0.0064)


# --- whole modes -----------------------------------------------------------------------------------
def test_threshold_decoding_finishes_every_block_even_when_nothing_is_confident():
    model = make_model("tiny-moe", dtype="fp32")
    engine = Engine(model)
    prompt = random_tokens(model, 2, 5, seed=0)
    result = decode_block_mask(engine, prompt, 24, block=8, commit_rule="threshold", threshold=2.0,
                               alignment="prompt_end")
    # Unreachable threshold: only the forced top-1 is committed, so exactly B steps per block.
    assert result.steps_per_block == [8, 8, 8]
    assert not (result.tokens == model.mask_id).any()


@pytest.mark.parametrize("block,tokens_per_step", [(16, 1), (16, 3), (16, 5), (16, 16), (16, 40), (8, 3)])
def test_a_schedule_of_s_tokens_finishes_a_block_of_b_in_ceil_b_over_s_steps_plus_one_commit(block, tokens_per_step):
    model = make_model("tiny-moe", dtype="fp32")
    engine = Engine(model)
    n_blocks = 2
    result = decode_block_mask(engine, random_tokens(model, 1, 7, seed=1), n_blocks * block, block=block,
                               commit_rule="schedule", tokens_per_step=tokens_per_step, alignment="prompt_end")
    steps = math.ceil(block / tokens_per_step)
    assert result.steps_per_block == [steps] * n_blocks
    assert _kinds(engine) == {"prefill": 1, "diffusion_step": n_blocks * steps, "commit": n_blocks}
    # Each block: its steps, then its commit, in that order.
    kinds = [p.kind for p in engine.passes[1:]]
    assert kinds == (["diffusion_step"] * steps + ["commit"]) * n_blocks


def test_absolute_alignment_puts_the_prompt_tail_in_the_first_block():
    model = make_model("tiny-moe", dtype="fp32")
    engine = Engine(model)
    prompt = random_tokens(model, 1, 13, seed=2)  # blocks of 8: [0,8) prefilled, [8,16) holds 5 prompt tokens
    result = decode_block_mask(engine, prompt, 11, block=8, commit_rule="schedule", tokens_per_step=1,
                               alignment="absolute")
    assert engine.passes[0].kind == "prefill" and engine.passes[0].queries == 8
    assert result.steps_per_block == [3, 8]  # 3 masked positions in the first block
    assert result.tokens.shape[1] == 11


def test_uniform_noise_decoding_runs_the_schedule_and_self_conditions():
    model = make_model("tiny-dgemma", dtype="fp32")
    engine = Engine(model)
    gen = torch.Generator().manual_seed(3)
    result = decode_block_uniform(engine, random_tokens(model, 1, 6, seed=4), 48, block=16, generator=gen,
                                  tokens_per_step=5)
    assert result.steps_per_block == [4, 4, 4]
    # Prefill, steps, and a commit between canvases - the last canvas is never encoded.
    assert _kinds(engine) == {"prefill": 1, "diffusion_step": 12, "commit": 2}
    assert all(p.queries == 16 for p in engine.passes if p.kind == "diffusion_step")
    # A random model is never confident: the entropy bound accepts one position per step.
    assert result.accepted_per_step == [1.0] * 12


def test_uniform_noise_decoding_stops_at_the_step_cap_when_never_confident():
    model = make_model("tiny-dgemma", dtype="fp32")
    engine = Engine(model)
    result = decode_block_uniform(engine, random_tokens(model, 2, 6, seed=5), 16, block=16,
                                  generator=torch.Generator().manual_seed(6), max_denoising_steps=7)
    assert result.steps_per_block == [7]
    assert _kinds(engine) == {"prefill": 1, "diffusion_step": 7}


def test_self_conditioning_changes_the_decoder_output():
    model = make_model("tiny-dgemma")
    cache = model.new_cache(1, 24)
    engine = Engine(model)
    engine.prefill(cache, random_tokens(model, 1, 8, seed=7), logits="none")
    canvas = random_tokens(model, 1, 16, seed=8)
    plain = engine.diffusion_step(cache, canvas, self_cond=True, sc_logits=None)
    conditioned = engine.diffusion_step(cache, canvas, self_cond=True, sc_logits=plain.to(model.dtype))
    assert (plain - conditioned).abs().max().item() > 1e-4


def _rig_towards_reserved_ids(model, monkeypatch):
    """Make [MASK] and [PAD] the most likely token everywhere (what an untrained model may do)."""
    original = model.forward

    def forward(*args, **kwargs):
        logits = original(*args, **kwargs)
        if logits is not None:
            logits[..., model.mask_id] += 1e4
            logits[..., model.pad_id] += 1e4
        return logits

    monkeypatch.setattr(model, "forward", forward)
    probe = model.forward(random_tokens(model, 1, 4, seed=9), 0)
    assert int(probe.argmax(dim=-1).min()) >= model.pad_id  # the rig works: raw argmax is reserved


@pytest.mark.parametrize("mode", ["ar", "mask_threshold", "mask_schedule", "uniform", "full", "prefix"])
def test_it_never_emits_mask_or_pad(mode, monkeypatch):
    model = make_model("tiny-dgemma", dtype="fp32")
    _rig_towards_reserved_ids(model, monkeypatch)
    engine = Engine(model)
    prompt = random_tokens(model, 2, 6, seed=10)
    if mode == "ar":
        result = decode_ar(engine, prompt, 12)
    elif mode.startswith("mask"):
        result = decode_block_mask(engine, prompt, 16, block=8, commit_rule=mode.split("_")[1], tokens_per_step=3)
    elif mode == "uniform":
        result = decode_block_uniform(engine, prompt, 16, block=8, generator=torch.Generator().manual_seed(0),
                                      max_denoising_steps=4)
    else:
        result = decode_full(engine, prompt, 16, block=8, cache_mode="none" if mode == "full" else "prefix")
    assert result.tokens.numel() > 0
    assert int(result.tokens.max()) < model.pad_id


def test_batch_rows_that_finish_early_wait_for_the_others():
    model = make_model("tiny-moe")
    prompt = random_tokens(model, 3, 8, seed=11)

    def run(rows: torch.Tensor) -> tuple[list[int], torch.Tensor, Engine]:
        engine = Engine(model)
        # 0.02 sits inside the spread of this random model's confidences (0.015-0.04): rows commit at different rates.
        result = decode_block_mask(engine, rows, 16, block=16, commit_rule="threshold", threshold=0.02,
                                   alignment="prompt_end")
        return result.steps_per_block, result.tokens, engine

    alone = [run(prompt[i:i + 1]) for i in range(3)]
    steps, tokens, engine = run(prompt)
    assert len({s[0][0] for s in alone}) > 1                    # the rows really do finish at different steps
    assert steps == [max(s[0][0] for s in alone)]               # the batch runs until the slowest row is done
    assert torch.equal(tokens, torch.cat([s[1] for s in alone]))  # finished rows are left as they were
    assert all(p.batch == 3 for p in engine.passes)


def test_full_attention_decoding_counts_its_forwards():
    model = make_model("tiny-llada", dtype="fp32")
    prompt = random_tokens(model, 1, 6, seed=12)
    engine = Engine(model)
    result = decode_full(engine, prompt, 16, block=8, cache_mode="none", tokens_per_step=3)
    assert result.steps_per_block == [3, 3]
    assert _kinds(engine) == {"full": 6} and all(p.queries == 22 for p in engine.passes)
    engine = Engine(model)
    result = decode_full(engine, prompt, 16, block=8, cache_mode="prefix", tokens_per_step=3)
    assert _kinds(engine) == {"full": 2, "prefix_step": 4}
    # Prefix steps query the block and every later block: 16 then 8 positions.
    assert [p.queries for p in engine.passes if p.kind == "prefix_step"] == [16, 16, 8, 8]


def test_restrict_masks_only_the_reserved_ids():
    logits = torch.zeros(1, 2, 10)
    decoding._restrict(logits, 8)
    assert torch.isinf(logits[..., 8:]).all() and (logits[..., :8] == 0).all()
