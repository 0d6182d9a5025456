"""Quality tiers from published perplexity deltas."""

from __future__ import annotations

import numpy as np

from estimator.core.quality import quality_tier, quality_tiers


def test_it_tiers_llama_cpp_formats_by_their_published_deltas():
    cases = {(0.0026, 8.5): "near-lossless", (0.1754, 4.89): "good", (0.4685, 4.5): "fair", (3.52, 3.16): "poor",
             (0.002, 16.0): "reference", (None, 8.0): "near-lossless", (None, 4.25): "unknown"}
    for (delta, bits), tier in cases.items():
        assert quality_tier(delta, bits) == tier


def test_it_tiers_columns_like_rows():
    delta = np.array([0.0026, 0.1754, 0.4685, 3.52, 0.002, np.nan, np.nan])
    bits = np.array([8.5, 4.89, 4.5, 3.16, 16.0, 8.0, 4.25])
    assert quality_tiers(delta, bits).tolist() == [quality_tier(d if d == d else None, b) for d, b in zip(delta, bits)]
