"""Cached forwards equal full recomputation with the matching mask (docs/diffusion.md §5.2, §5.4)."""

from __future__ import annotations

import pytest
import torch

from estimator.engine.decoding import block_span
from estimator.engine.engine import Engine

from .helpers import make_model, random_tokens

FP64_TOL = 1e-10


def _floor_div(x: torch.Tensor, n: int) -> torch.Tensor:
    return torch.div(x, n, rounding_mode="floor")


def reference_mask(length: int, current: int, block: int, origin: int, commit_attention: str) -> torch.Tensor:
    """Written out independently of the engine: the mask a full recompute of [0, length) uses
    when the block starting at `current` is being denoised and everything before it is committed."""
    i = torch.arange(length)[:, None]
    j = torch.arange(length)[None, :]
    if commit_attention == "block":
        return _floor_div(j - origin, block) <= _floor_div(i - origin, block)
    # Causal encoder (DiffusionGemma): causal up to the current block, bidirectional inside it.
    return (j <= i) | ((i >= current) & (j >= current))


def _cached_block_state(model, prompt, block, n_committed, alignment, commit_attention, seed):
    """Prefill + commit `n_committed` clean blocks through the engine; return the pieces of the state."""
    b, p = prompt.shape
    first, _ = block_span(p, n_committed * block + block, block, alignment)
    origin = 0 if alignment == "absolute" else p
    current = first + n_committed * block
    end = current + block
    seq = random_tokens(model, b, end, seed)  # clean tokens for the committed blocks
    seq[:, :p] = prompt
    cache = model.new_cache(b, end)
    engine = Engine(model)
    causal = commit_attention == "causal"
    if first:
        engine.prefill(cache, seq[:, :first], rule="causal" if causal else "block_causal",
                       block=block, origin=origin, logits="none")
    for start in range(first, current, block):
        engine.commit(cache, seq[:, start:start + block], causal=causal)
    return engine, cache, seq, origin, current, end


@pytest.mark.parametrize("preset", ["tiny-moe", "tiny-dgemma"])
@pytest.mark.parametrize("alignment,commit_attention,prompt_len", [
    ("absolute", "block", 13),    # SDAR: prompt tail shares the first decoded block
    ("absolute", "block", 16),    # prompt exactly on a block boundary
    ("prompt_end", "block", 13),
    ("prompt_end", "causal", 13),  # DiffusionGemma: causal encoder, bidirectional decoder
])
def test_it_matches_full_recompute_for_cached_block_steps(preset, alignment, commit_attention, prompt_len):
    model = make_model(preset)
    block = 8
    prompt = random_tokens(model, 2, prompt_len, seed=1)
    engine, cache, seq, origin, current, end = _cached_block_state(
        model, prompt, block, 3, alignment, commit_attention, seed=2)
    noisy = seq.clone()
    noisy[:, current + 1:end:2] = model.mask_id  # a partly denoised block
    if alignment == "absolute":
        noisy[:, :prompt_len] = prompt
    cached = engine.diffusion_step(cache, noisy[:, current:end])
    mask = reference_mask(end, current, block, origin, commit_attention)
    full = model.forward(noisy, 0, mask=mask)[:, current:end]
    assert cached.shape == full.shape == (2, block, model.arch.vocab_size)
    assert (cached - full).abs().max().item() < FP64_TOL
    # The check can fail: a causal-inside-the-block recompute is a different function.
    causal_inside = reference_mask(end, end, block, origin, "causal")
    wrong = model.forward(noisy, 0, mask=causal_inside)[:, current:end]
    assert (cached - wrong).abs().max().item() > 1e-3


def test_it_leaves_the_committed_cache_untouched_during_diffusion_steps():
    model = make_model("tiny-dgemma")
    block = 8
    prompt = random_tokens(model, 1, 11, seed=3)
    engine, cache, seq, origin, current, end = _cached_block_state(
        model, prompt, block, 2, "prompt_end", "causal", seed=4)
    committed_k = [k[:, :, :current].clone() for k in cache.k]
    committed_v = [v[:, :, :current].clone() for v in cache.v]
    length = cache.length
    first_block = random_tokens(model, 1, block, seed=5)
    second_block = random_tokens(model, 1, block, seed=6)
    engine.diffusion_step(cache, first_block)
    again = engine.diffusion_step(cache, second_block)  # scratch rows now hold the first block's K/V
    assert cache.length == length == current
    for before, after in zip(committed_k + committed_v, cache.k + cache.v):
        assert torch.equal(before, after[:, :, :current])
    state = seq.clone()
    state[:, current:end] = second_block
    full = model.forward(state, 0, mask=reference_mask(end, current, block, origin, "causal"))[:, current:end]
    assert (again - full).abs().max().item() < FP64_TOL


@pytest.mark.parametrize("preset", ["tiny-dense", "tiny-moe", "tiny-dgemma"])
def test_it_matches_full_causal_recompute_for_cached_ar_decoding(preset):
    model = make_model(preset)
    prompt = random_tokens(model, 2, 9, seed=7)
    gen = 30  # past tiny-dgemma's sliding window of 24
    cache = model.new_cache(2, prompt.shape[1] + gen)
    engine = Engine(model)
    step_logits = [engine.prefill(cache, prompt, rule="causal", logits="last")[:, -1]]
    tokens = [prompt]
    for _ in range(gen - 1):
        token = step_logits[-1][:, : model.pad_id].argmax(dim=-1, keepdim=True)
        tokens.append(token)
        step_logits.append(engine.ar_step(cache, token)[:, -1])
    seq = torch.cat(tokens, dim=1)
    n = seq.shape[1]
    causal = torch.arange(n)[None, :] <= torch.arange(n)[:, None]
    full = model.forward(seq, 0, mask=causal)[:, prompt.shape[1] - 1:]
    cached = torch.stack(step_logits, dim=1)
    assert cached.shape == full.shape
    assert (cached - full).abs().max().item() < FP64_TOL


def test_it_agrees_in_fp32_within_a_float_tolerance():
    model = make_model("tiny-dgemma", dtype="fp32")
    prompt = random_tokens(model, 1, 13, seed=8)
    engine, cache, seq, origin, current, end = _cached_block_state(model, prompt, 8, 2, "absolute", "block", seed=9)
    cached = engine.diffusion_step(cache, seq[:, current:end])
    full = model.forward(seq, 0, mask=reference_mask(end, current, 8, origin, "block"))[:, current:end]
    assert (cached - full).abs().max().item() < 1e-4


# --- sliding windows ------------------------------------------------------------------------------
WINDOW = 5


def _windowed_pair():
    """The same weights built twice: every layer sliding (window 5), and every layer global.

    With rope_theta_global = rope_theta the two differ only in the window, so the global
    model plus an explicit windowed mask is an independent reference for the sliding path.
    """
    common = {"rope_theta": 10_000.0, "rope_theta_global": 10_000.0}
    sliding = make_model("tiny-moe", sliding_window=WINDOW, n_global_layers=0, **common)
    plain = make_model("tiny-moe", sliding_window=None, **common)
    return sliding, plain


def _window(n: int) -> torch.Tensor:
    pos = torch.arange(n)
    return (pos[:, None] - pos[None, :]).abs() < WINDOW


def test_sliding_window_layers_match_a_windowed_full_recompute():
    sliding, plain = _windowed_pair()
    block = 4
    prompt = random_tokens(sliding, 1, 10, seed=10)
    engine, cache, seq, origin, current, end = _cached_block_state(sliding, prompt, block, 2, "prompt_end", "block",
                                                                   seed=11)
    cached = engine.diffusion_step(cache, seq[:, current:end])
    block_causal = reference_mask(end, current, block, origin, "block")
    windowed = plain.forward(seq, 0, mask=block_causal & _window(end))[:, current:end]
    unwindowed = plain.forward(seq, 0, mask=block_causal)[:, current:end]
    assert (cached - windowed).abs().max().item() < FP64_TOL
    assert (cached - unwindowed).abs().max().item() > 1e-3  # the window is not a no-op here

    # Autoregressive decoding through the window.
    n = 20
    tokens = random_tokens(sliding, 1, n, seed=12)
    ar_cache = sliding.new_cache(1, n)
    ar = Engine(sliding)
    got = [ar.prefill(ar_cache, tokens[:, :3], logits="last")[:, -1]]
    for i in range(3, n):
        got.append(ar.ar_step(ar_cache, tokens[:, i:i + 1])[:, -1])
    causal = torch.arange(n)[None, :] <= torch.arange(n)[:, None]
    full = plain.forward(tokens, 0, mask=causal & _window(n))[:, 2:]
    assert (torch.stack(got, dim=1) - full).abs().max().item() < FP64_TOL


def test_a_token_outside_every_window_has_no_influence():
    sliding = make_model("tiny-moe", sliding_window=WINDOW, n_global_layers=0, n_layers=1)
    block, current = 4, 12
    base = random_tokens(sliding, 1, current + block, seed=13)

    def step_logits(seq: torch.Tensor) -> torch.Tensor:
        cache = sliding.new_cache(1, current + block)
        engine = Engine(sliding)
        engine.prefill(cache, seq[:, :current], logits="none")
        return engine.diffusion_step(cache, seq[:, current:])

    reference = step_logits(base)
    outside, inside = base.clone(), base.clone()
    outside[0, current - WINDOW] = (outside[0, current - WINDOW] + 1) % sliding.pad_id
    inside[0, current - WINDOW + 1] = (inside[0, current - WINDOW + 1] + 1) % sliding.pad_id
    assert torch.equal(step_logits(outside), reference)
    assert (step_logits(inside)[0, 0] - reference[0, 0]).abs().max().item() > 1e-6
