"""Dollars per million generated tokens (docs/estimator.md §10).

    energy $/1M  = power_W / 1000 * (1e6 / tok_s / 3600) * $/kWh      (default $0.12/kWh)
    rental $/1M  = $/h / (tok_s * 3600) * 1e6                          (cheapest offer per device)
    API $/1M     = 0.7 * input + 0.3 * output                          (blended, cheapest provider)

Power is the board TDP times the devices used (a ceiling: decoding rarely draws full TDP, so the
energy cost is an upper bound). Apple publishes no TDP: energy is NaN there, never a guess.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from estimator.core.units import HOUR_S

DEFAULT_USD_PER_KWH = 0.12
API_INPUT_SHARE = 0.7
API_OUTPUT_SHARE = 0.3


def energy_usd_per_mtok(power_w: np.ndarray, tokens_per_s: np.ndarray, usd_per_kwh: float | np.ndarray = DEFAULT_USD_PER_KWH) -> np.ndarray:
    """Energy cost of one million tokens at `tokens_per_s` drawing `power_w` watts."""
    with np.errstate(divide="ignore", invalid="ignore"):
        hours = 1e6 / np.asarray(tokens_per_s, dtype=np.float64) / HOUR_S
    return np.asarray(power_w, dtype=np.float64) / 1000.0 * hours * usd_per_kwh


def rental_usd_per_mtok(usd_per_hour: np.ndarray, tokens_per_s: np.ndarray) -> np.ndarray:
    """Rental cost of one million tokens at `tokens_per_s` renting for `usd_per_hour`."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(usd_per_hour, dtype=np.float64) / (np.asarray(tokens_per_s, dtype=np.float64) * HOUR_S) * 1e6


def api_blended_usd_per_mtok(usd_per_1m_input: np.ndarray, usd_per_1m_output: np.ndarray) -> np.ndarray:
    """70% input / 30% output blend of an API's per-token prices."""
    return API_INPUT_SHARE * np.asarray(usd_per_1m_input, dtype=np.float64) + API_OUTPUT_SHARE * np.asarray(usd_per_1m_output, dtype=np.float64)


def cheapest_rental(offers: pd.DataFrame, key: str = "device_slug") -> pd.DataFrame:
    """Cheapest $/h per single device, from offers with `key`, `usd_per_hour`, `gpu_count`.

    `usd_per_hour` is already a per-GPU-hour price in cloud_offers.csv (docs/data.md: "per-GPU-hour
    prices"; an 8x H100 instance at $3.99 costs 8 x $3.99 an hour), so it is NOT divided by
    `gpu_count` again. An n-device configuration pays n times it (`rental_usd_per_hour`). The
    offer's provider, tier and as-of date come along (`rental_provider`, `rental_tier`,
    `rental_as_of`, `rental_gpu_count`) so that every cost says where it came from. Offers naming
    no catalog device are ignored.
    """
    frame = offers.dropna(subset=[key, "usd_per_hour"]).copy()
    frame["usd_per_hour_per_device"] = frame["usd_per_hour"].astype(float)
    # Ties: the offer renting fewer GPUs (what a single-device user can actually rent) first.
    order = ["usd_per_hour_per_device"] + (["gpu_count"] if "gpu_count" in frame else [])
    best = frame.sort_values(order, kind="stable").drop_duplicates(key)
    meta = [c for c in ("provider", "tier", "as_of", "gpu_count") if c in best]
    columns = [key, "usd_per_hour_per_device"] + meta
    return best[columns].rename(columns={c: f"rental_{c}" for c in meta}).reset_index(drop=True)


def cheapest_api(prices: pd.DataFrame, key: str = "model_slug") -> pd.DataFrame:
    """Cheapest blended API price per catalog model, from rows with `key` and input/output prices.

    The provider and as-of date come along (`api_provider`, `api_as_of`)."""
    frame = prices.dropna(subset=[key, "usd_per_1m_input", "usd_per_1m_output"]).copy()
    frame["api_usd_per_mtok"] = api_blended_usd_per_mtok(frame["usd_per_1m_input"], frame["usd_per_1m_output"])
    best = frame.sort_values("api_usd_per_mtok", kind="stable").drop_duplicates(key)
    meta = [c for c in ("provider", "as_of") if c in best]
    best = best.rename(columns={c: f"api_{c}" for c in meta})
    return best[[key, "api_usd_per_mtok"] + [f"api_{c}" for c in meta]].reset_index(drop=True)
