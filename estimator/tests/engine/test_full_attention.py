"""Full-attention masked diffusion (LLaDA family): no cache is exact, a prefix cache is not (docs/diffusion.md §1.0)."""

from __future__ import annotations

import torch

from estimator.engine.engine import Engine

from .helpers import make_model, random_tokens

PROMPT, BLOCK, GEN = 9, 8, 24


def _canvas(model):
    canvas = torch.full((1, PROMPT + GEN), model.mask_id)
    canvas[:, :PROMPT] = random_tokens(model, 1, PROMPT, seed=0)
    return canvas


def _commit_some(model, canvas, start, n):
    out = canvas.clone()
    out[:, start:start + n] = random_tokens(model, 1, n, seed=1)
    return out


def test_decoding_without_a_cache_equals_full_recompute():
    model = make_model("tiny-llada")
    engine = Engine(model)
    canvas = _commit_some(model, _canvas(model), PROMPT, 3)
    got = engine.full(canvas)
    assert (got - model.forward(canvas, 0, mask=None)).abs().max().item() == 0.0
    # The check can fail: attention really is bidirectional (a causal recompute differs).
    n = canvas.shape[1]
    causal = torch.arange(n)[None, :] <= torch.arange(n)[:, None]
    assert (got - model.forward(canvas, 0, mask=causal)).abs().max().item() > 1e-3


def test_the_prefix_cache_is_exact_right_after_a_refresh_and_an_approximation_after_commits():
    model = make_model("tiny-llada")
    engine = Engine(model)
    start = PROMPT  # first block
    canvas = _canvas(model)
    cache = model.new_cache(1, canvas.shape[1])
    engine.full(canvas, cache=cache)   # refresh: every position's K/V from this canvas
    cache.truncate(start)              # keep the prefix only

    fresh = engine.prefix_step(cache, canvas[:, start:])
    exact = model.forward(canvas, 0)[:, start:]
    assert (fresh - exact).abs().max().item() < 1e-10

    # Commit four tokens: the prefix K/V were computed while they were [MASK], so they are stale.
    later = _commit_some(model, canvas, start, 4)
    stale = engine.prefix_step(cache, later[:, start:])
    recompute = model.forward(later, 0)[:, start:]
    assert (stale - recompute).abs().max().item() > 1e-2


def test_prefix_steps_never_touch_the_refreshed_prefix():
    model = make_model("tiny-llada")
    engine = Engine(model)
    canvas = _canvas(model)
    cache = model.new_cache(1, canvas.shape[1])
    engine.full(canvas, cache=cache)
    cache.truncate(PROMPT + BLOCK)
    before = [k[:, :, :PROMPT + BLOCK].clone() for k in cache.k]
    engine.prefix_step(cache, _commit_some(model, canvas, PROMPT + BLOCK, 2)[:, PROMPT + BLOCK:])
    assert all(torch.equal(b, k[:, :, :PROMPT + BLOCK]) for b, k in zip(before, cache.k))
