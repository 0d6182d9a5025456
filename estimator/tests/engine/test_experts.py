"""Experts touched per MoE layer per pass, against E (1 - (1 - k/E)^T) (docs/diffusion.md §2.3).

What is provable, and so what is tested:
- For any single pass: k <= touched <= min(E, k T) (each token picks k distinct experts),
  hence touched == k exactly when one token is routed (T = 1).
- The formula is the *expectation* for T tokens routed independently and uniformly. For
  tokens routed independently with any common marginal p_e (sum_e p_e = k), E[touched] =
  sum_e 1 - (1 - p_e)^T, which is at most the uniform value because 1 - (1 - p)^T is concave
  in p (Jensen). So a single pass may exceed the formula; the mean over independent passes may
  not, beyond sampling noise. With Var(touched) <= E/4 (a sum of E negatively associated
  indicators), the mean of n passes is allowed 4 standard errors: 4 sqrt(E/4/n).
Tokens inside a transformer are not independent (attention mixes them), so the model-level
test checks the hard bounds only; the statistical one feeds the MoE layer i.i.d. inputs.
"""

from __future__ import annotations

import math

import pytest
import torch

from estimator.engine.decoding import decode_ar, decode_block_mask
from estimator.engine.engine import Engine
from estimator.engine.runner import expected_experts_touched

from .helpers import make_model, random_tokens

E, K = 16, 2


def _moe_model(**kw):
    return make_model("tiny-moe", dtype="fp32", n_experts=E, n_experts_active=K, **kw)


def test_the_formula_gives_k_for_one_token_and_tends_to_e():
    assert expected_experts_touched(128, 8, 1) == pytest.approx(8)
    assert expected_experts_touched(128, 8, 256) == pytest.approx(128, rel=1e-6)
    assert expected_experts_touched(128, 8, 32) / 128 == pytest.approx(0.87, abs=0.01)  # docs/diffusion.md §2.3


def test_it_touches_exactly_k_experts_per_layer_for_one_token():
    model = _moe_model()
    engine = Engine(model)
    decode_ar(engine, random_tokens(model, 1, 5, seed=0), 12)
    steps = [p for p in engine.passes if p.kind == "ar_step"]
    assert len(steps) == 11
    assert all(p.experts_touched == [K] * model.arch.n_layers for p in steps)


def test_every_pass_stays_within_the_hard_bounds():
    model = _moe_model()
    engine = Engine(model)
    decode_block_mask(engine, random_tokens(model, 2, 9, seed=1), 24, block=8, commit_rule="schedule",
                      tokens_per_step=3)
    assert engine.passes
    for p in engine.passes:
        tokens = p.batch * p.queries
        assert len(p.experts_touched) == model.arch.n_layers
        assert all(K <= n <= min(E, K * tokens) for n in p.experts_touched)


def test_the_count_is_the_number_of_distinct_routed_experts():
    model = _moe_model()
    layer = model.layers[0]
    gen = torch.Generator().manual_seed(2)
    for tokens in (1, 3, 7, 30):
        x = torch.randn(tokens, model.arch.hidden_size, generator=gen)
        _, touched = model._moe(layer, x)
        chosen = torch.topk(torch.softmax(x @ layer["router"], dim=-1), K, dim=-1).indices
        assert touched == len(set(chosen.flatten().tolist()))


@pytest.mark.parametrize("tokens", [1, 2, 4, 8, 16, 64])
def test_mean_experts_touched_is_within_the_uniform_bound_for_independent_tokens(tokens):
    model = _moe_model()
    layer = model.layers[1]
    gen = torch.Generator().manual_seed(100 + tokens)
    n = 200
    counts = []
    for _ in range(n):
        _, touched = model._moe(layer, torch.randn(tokens, model.arch.hidden_size, generator=gen))
        assert K <= touched <= min(E, K * tokens)
        counts.append(touched)
    mean = sum(counts) / n
    bound = expected_experts_touched(E, K, tokens)
    assert mean <= bound + 4 * math.sqrt(E / 4 / n)
    if tokens == 1:
        assert counts == [K] * n
    if tokens == 64:
        assert mean > 2 * K  # the dispatch really spreads tokens over experts


def test_grouped_dispatch_equals_the_per_expert_loop():
    loop = make_model("tiny-moe", n_experts=E, n_experts_active=K)
    grouped = make_model("tiny-moe", n_experts=E, n_experts_active=K, moe_impl="grouped")
    gen = torch.Generator().manual_seed(3)
    for tokens in (2, 200):  # few tokens: some experts idle (loop path); many: all touched (batched path)
        x = torch.randn(tokens, loop.arch.hidden_size, generator=gen, dtype=torch.float64)
        a, ta = loop._moe(loop.layers[0], x)
        b, tb = grouped._moe(grouped.layers[0], x)
        assert ta == tb
        assert (a - b).abs().max().item() < 1e-12
    assert tb == E
