"""Builders shared by the reference-engine tests (CPU, tiny models)."""

from __future__ import annotations

from typing import Any

import torch

from estimator.engine.arch import resolve_architecture
from estimator.engine.model import Transformer
from estimator.engine.presets import get_preset


def make_model(preset: str = "tiny-moe", *, dtype: str = "fp64", seed: int = 0, moe_impl: str = "loop",
               **overrides: Any) -> Transformer:
    """A tiny random-weight model; fp64 by default so exactness tests can use tight tolerances."""
    arch = resolve_architecture({**get_preset(preset), **overrides})
    return Transformer(arch, dtype=dtype, seed=seed, moe_impl=moe_impl)


def random_tokens(model: Transformer, batch: int, length: int, seed: int) -> torch.Tensor:
    """Random ids below the reserved [PAD]/[MASK] ids."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, model.pad_id, (batch, length), generator=gen)
