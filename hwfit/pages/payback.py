"""Buying a device against renting it and against a hosted API, at a daily token volume.

    cost per day      = daily tokens / 1M x $/1M tokens     (energy, rental, API: the estimate's)
    months to pay back = launch price x devices / ((alternative - energy) per day x 30.44)

The $/1M figures are the estimate's (batch 1, one request stream); a device can make at most
tokens/s x 86,400 tokens a day that way, which the panel says when the volume asks for more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DAYS_PER_MONTH = 365.25 / 12
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Payback:
    launch_price_usd: float | None      # all the devices the configuration uses
    device_count: int
    daily_tokens: int
    capacity_per_day: float | None     # tokens one request stream makes in a day
    energy_per_day: float | None
    rental_per_day: float | None
    api_per_day: float | None
    months_vs_rental: float | None     # None: never pays back, or a figure is missing
    months_vs_api: float | None

    @property
    def over_capacity(self) -> bool:
        return self.capacity_per_day is not None and self.daily_tokens > self.capacity_per_day


def _per_day(daily_tokens: int, usd_per_mtok: float | None) -> float | None:
    return None if usd_per_mtok is None else daily_tokens / 1e6 * usd_per_mtok


def _months(price: float | None, alternative: float | None, energy: float | None) -> float | None:
    if price is None or alternative is None:
        return None
    saving = alternative - (energy or 0.0)
    return price / (saving * DAYS_PER_MONTH) if saving > 0 else None


def payback(record: dict[str, Any], *, launch_price_usd: float | None, daily_tokens: int) -> Payback:
    """The payback of buying the devices of one estimate (an API result object)."""
    cost, speed = record["cost"], record["speed"]
    count = record["workload"]["device_count"] or 1
    price = None if launch_price_usd is None else launch_price_usd * count
    energy = _per_day(daily_tokens, cost["energy_usd_per_mtok"])
    rental = _per_day(daily_tokens, cost["rental_usd_per_mtok"])
    api = _per_day(daily_tokens, cost["api_usd_per_mtok"])
    batch1 = speed["generation_tokens_per_s_batch1"]
    return Payback(
        launch_price_usd=price, device_count=count, daily_tokens=daily_tokens,
        capacity_per_day=None if batch1 is None else batch1 * SECONDS_PER_DAY,
        energy_per_day=energy, rental_per_day=rental, api_per_day=api,
        months_vs_rental=_months(price, rental, energy), months_vs_api=_months(price, api, energy),
    )
