"""Quality tier of a quantization, from its published perplexity delta.

One table of thresholds, used by the catalog import (catalog_sources) and by the estimator's
outputs. The deltas in the data are llama.cpp `quantize` README figures on Llama-3-8B (WikiText
perplexity, absolute delta against F16), so the thresholds are set on that scale:

| tier           | rule                                                                |
|----------------|---------------------------------------------------------------------|
| reference      | 16 or more bits per weight (F16/BF16/F32: what the others compare to) |
| near-lossless  | ppl delta < 0.03 (Q8_0 +0.003, Q6_K +0.022); or >= 8 bpw without a delta (FP8, int8) |
| good           | ppl delta < 0.25 (Q5_K_M +0.057, Q4_K_M +0.175)                      |
| fair           | ppl delta < 1.0 (Q4_0 +0.47, Q3_K_M +0.66)                           |
| poor           | ppl delta >= 1.0 (Q3_K_S +1.63, Q2_K +3.52)                          |
| unknown        | no published delta and fewer than 8 bpw: we do not guess             |
"""

from __future__ import annotations

import math

import numpy as np

QUALITY_TIERS = ("reference", "near-lossless", "good", "fair", "poor", "unknown")

# (upper bound on the perplexity delta, tier), checked in order.
PPL_DELTA_THRESHOLDS: tuple[tuple[float, str], ...] = (
    (0.03, "near-lossless"),
    (0.25, "good"),
    (1.0, "fair"),
    (math.inf, "poor"),
)


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def quality_tier(ppl_delta: float | None, bits_per_weight: float | None) -> str:
    """The tier of a quantization (see the module table); never a guess when nothing is published."""
    if not _missing(bits_per_weight) and bits_per_weight >= 16:
        return "reference"
    if not _missing(ppl_delta):
        # A negative delta (BF16 -0.005) is measurement noise around the reference: lossless.
        for bound, tier in PPL_DELTA_THRESHOLDS:
            if ppl_delta < bound:
                return tier
    if not _missing(bits_per_weight) and bits_per_weight >= 8:
        return "near-lossless"
    return "unknown"


def quality_tiers(ppl_delta: np.ndarray, bits_per_weight: np.ndarray) -> np.ndarray:
    """`quality_tier` column-wise (numpy arrays in, an object array of tiers out)."""
    delta = np.asarray(ppl_delta, dtype=np.float64)
    bits = np.asarray(bits_per_weight, dtype=np.float64)
    out = np.full(delta.shape, "unknown", dtype=object)
    out[bits >= 8] = "near-lossless"
    has_delta = ~np.isnan(delta)
    # Assign from the loosest bound to the tightest so that the tightest one met wins.
    for bound, tier in reversed(PPL_DELTA_THRESHOLDS):
        out[has_delta & (delta < bound)] = tier
    out[bits >= 16] = "reference"
    return out
