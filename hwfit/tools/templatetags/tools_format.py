"""Numbers as the tools show them: thousands separators, three significant figures, one unit.

    {{ 1599|usd }} -> $1,599     {{ 2.4e10|gb }} -> 22.4 GB     {{ 142.3|tok_s }} -> 142 tok/s
    {{ 0.12|band }} -> ±12%      {{ 0.216|seconds }} -> 216 ms  {{ 3.3e14|tflops }} -> 330 TFLOPS
    {{ 6.4e11|flop }} -> 640 GFLOP   {{ 1.008e12|gb_s }} -> 1,008 GB/s   {{ 0.47|pct }} -> 47%

A figure the estimator could not compute (None, NaN, inf) renders as an em dash, never "None".
Memory is in GB of 2^30 bytes (as memory is sold: a 24 GB card holds 24 x 2^30 bytes);
bandwidth in GB/s of 10^9 bytes (as it is published).
"""

from __future__ import annotations

import math

from django import template

from estimator.core.units import GIB, TERA

register = template.Library()

MISSING = "—"


def _number(value) -> float | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def three_figures(number: float) -> str:
    """Three significant figures, thousands separated, no exponent: 3676 -> 3,676; 8.03; 0.042."""
    size = abs(number)
    if size >= 100 or size == 0:
        return f"{number:,.0f}"
    if size >= 10:
        return f"{number:,.1f}"
    if size >= 1:
        return f"{number:,.2f}"
    decimals = min(12, 2 - math.floor(math.log10(size)))
    return f"{number:.{decimals}f}"


def _unit(value, scale: float, unit: str) -> str:
    number = _number(value)
    return MISSING if number is None else f"{three_figures(number / scale)} {unit}"


@register.filter
def num(value) -> str:
    """A count or figure with thousands separators: 262144 -> 262,144; 8.5 -> 8.5."""
    number = _number(value)
    if number is None:
        return MISSING
    return f"{number:,.0f}" if number.is_integer() else three_figures(number)


@register.filter
def usd(value) -> str:
    """Dollars: $1,599 · $12.34 · $0.42 · $0.0042."""
    number = _number(value)
    if number is None:
        return MISSING
    if abs(number) >= 100:
        return f"${number:,.0f}"
    if abs(number) >= 0.1:
        return f"${number:,.2f}"
    return "$" + three_figures(number)


@register.filter
def gb(value) -> str:
    """Bytes of memory: 24 GB; under 1 GB in MB (0.47 MB, not 0.000478 GB); 0 as 0 GB."""
    number = _number(value)
    if number is not None and 0 < abs(number) < GIB:
        return f"{three_figures(number / 2**20)} MB"
    return _unit(value, GIB, "GB")


@register.filter
def gb_s(value) -> str:
    return _unit(value, 1e9, "GB/s")


@register.filter
def tok_s(value) -> str:
    return _unit(value, 1, "tok/s")


@register.filter
def band(value) -> str:
    number = _number(value)
    return MISSING if number is None else f"±{number * 100:.0f}%"


@register.filter
def pct(value) -> str:
    number = _number(value)
    return MISSING if number is None else f"{three_figures(number * 100)}%"


@register.filter
def seconds(value) -> str:
    """A duration in the unit that reads best: 216 ms · 2.2 s · 3.5 min."""
    number = _number(value)
    if number is None:
        return MISSING
    if number < 1:
        return f"{three_figures(number * 1000)} ms"
    if number < 120:
        return f"{three_figures(number)} s"
    return f"{three_figures(number / 60)} min"


@register.filter
def tflops(value) -> str:
    return _unit(value, TERA, "TFLOPS")


@register.filter
def flop(value) -> str:
    """A FLOP count with an SI prefix: 6.4e11 -> 640 GFLOP."""
    number = _number(value)
    if number is None:
        return MISSING
    for scale, prefix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M")):
        if abs(number) >= scale:
            return f"{three_figures(number / scale)} {prefix}FLOP"
    return f"{three_figures(number)} FLOP"


@register.filter
def watts(value) -> str:
    number = _number(value)
    return MISSING if number is None else f"{number:,.0f} W"
