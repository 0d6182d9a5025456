"""Dollars per million generated tokens (DESIGN.md "Cost").

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

    Multi-GPU offers are divided by their GPU count (a per-GPU price). Offers naming no catalog
    device are ignored.
    """
    frame = offers.dropna(subset=[key, "usd_per_hour"]).copy()
    count = frame["gpu_count"].fillna(1).clip(lower=1) if "gpu_count" in frame else 1
    frame["usd_per_hour_per_device"] = frame["usd_per_hour"] / count
    best = frame.sort_values("usd_per_hour_per_device").drop_duplicates(key)
    columns = [key, "usd_per_hour_per_device"] + [c for c in ("provider", "tier", "as_of") if c in best]
    return best[columns].rename(columns={c: f"rental_{c}" for c in ("provider", "tier", "as_of")}).reset_index(drop=True)


def cheapest_api(prices: pd.DataFrame, key: str = "model_slug") -> pd.DataFrame:
    """Cheapest blended API price per catalog model, from rows with `key` and input/output prices."""
    frame = prices.dropna(subset=[key, "usd_per_1m_input", "usd_per_1m_output"]).copy()
    frame["api_usd_per_mtok"] = api_blended_usd_per_mtok(frame["usd_per_1m_input"], frame["usd_per_1m_output"])
    best = frame.sort_values("api_usd_per_mtok").drop_duplicates(key)
    best = best.rename(columns={"provider": "api_provider"})
    return best[[key, "api_usd_per_mtok"] + (["api_provider"] if "api_provider" in best else [])].reset_index(drop=True)
