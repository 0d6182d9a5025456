"""The tools' figures beyond the shared formats (hwfit/pages/templatetags/hwfit_format.py, loaded first):

    {{ 5.1e5|mem }} -> 0.49 MB (memory under 1 GB in MB; from 1 GB on, as `gb`)
    {{ 1.008e12|gb_s }} -> 1,008 GB/s    {{ 0.47|pct }} -> 47%    {{ 6.4e11|flop }} -> 640 GFLOP

Missing figures (None, NaN, inf) render as the shared em dash. Bandwidth is in GB/s of 10^9 bytes,
as it is published; memory in GB of 2^30 bytes, as `gb`.
"""

from __future__ import annotations

from django import template

from hwfit.pages.templatetags.hwfit_format import MISSING, _number, gb, three_figures

register = template.Library()


@register.filter
def mem(value) -> str:
    """Bytes of a memory part: as `gb`, but under 1 GB in MB (0.49 MB, not 0.000478 GB)."""
    number = _number(value)
    if number is not None and 0 < abs(number) < 2**30:
        return f"{three_figures(number / 2**20)} MB"
    return gb(value)


@register.filter
def gb_s(value) -> str:
    number = _number(value)
    return MISSING if number is None else f"{three_figures(number / 1e9)} GB/s"


@register.filter
def pct(value) -> str:
    number = _number(value)
    return MISSING if number is None else f"{three_figures(number * 100)}%"


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
