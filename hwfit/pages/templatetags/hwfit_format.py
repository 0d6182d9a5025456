"""Numbers as people read them: thousands separators, sensible precision and one unit.

    {{ 1599|usd }} -> $1,599      {{ bytes|gb }} -> 24 GB       {{ 142.3|tok_s }} -> 142 tok/s
    {{ 0.12|band }} -> ±12%       {{ 0.216|seconds }} -> 216 ms {{ 1.65e14|tflops }} -> 165 TFLOPS

A missing figure (None, NaN, inf: what the estimator gives where it cannot compute) renders as
an em dash, never as "None" or "nan"; pages say why next to it.
"""

from __future__ import annotations

import math

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from estimator.core.grades import GRADE_NO_FIT, GRADE_SLOW, GRADE_THRESHOLDS, GRADE_UNKNOWN
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
    """Three significant figures, thousands separated, no exponent, no trailing zeros:
    3676 -> 3,676; 24.0 -> 24; 8.03; 0.0423."""
    size = abs(number)
    if size >= 100 or size == 0:
        return f"{number:,.0f}"
    if size >= 10:
        text = f"{number:,.1f}"
    elif size >= 1:
        text = f"{number:,.2f}"
    else:
        text = f"{number:.{min(12, 2 - math.floor(math.log10(size)))}f}"
    return text.rstrip("0").rstrip(".")


@register.filter
def num(value) -> str:
    """A catalog figure as stated, thousands separated: 262144 -> 262,144; 0.55 -> 0.55; 82.6 -> 82.6."""
    number = _number(value)
    if number is None:
        return MISSING
    return f"{number:,.0f}" if number.is_integer() else f"{number:,.6g}"


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
    """Bytes as GB of memory (2^30 bytes, as memory is sold: a 24 GB card holds 24 x 2^30)."""
    number = _number(value)
    return MISSING if number is None else f"{three_figures(number / GIB)} GB"


@register.filter
def tok_s(value) -> str:
    number = _number(value)
    return MISSING if number is None else f"{three_figures(number)} tok/s"


@register.filter
def band(value) -> str:
    """A relative error as a band: 0.12 -> ±12%."""
    number = _number(value)
    return MISSING if number is None else f"±{number * 100:.0f}%"


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
    """FLOP/s as TFLOPS: 1.65e14 -> 165 TFLOPS."""
    number = _number(value)
    return MISSING if number is None else f"{three_figures(number / TERA)} TFLOPS"


@register.filter
def months(value) -> str:
    number = _number(value)
    if number is None:
        return MISSING
    return f"{three_figures(number)} month" + ("" if number == 1 else "s")


@register.filter
def watts(value) -> str:
    number = _number(value)
    return MISSING if number is None else f"{number:,.0f} W"


GRADE_RULES = {
    **{name: f"{name}: at least {threshold:g} tok/s for one request" for name, threshold in GRADE_THRESHOLDS},
    GRADE_SLOW: f"{GRADE_SLOW}: slower than {GRADE_THRESHOLDS[-1][1]:g} tok/s, or only with offload to host memory",
    GRADE_NO_FIT: f"{GRADE_NO_FIT}: does not fit (up to 8 devices, no offload), or no kernels for the device",
    GRADE_UNKNOWN: f"{GRADE_UNKNOWN}: unknown — the catalog does not publish what the estimate needs",
}


def _grade_parts(grade) -> tuple[str, str]:
    """'S×4' -> ('S', '4'): a grade on several devices (core/grades.py) and how many."""
    base, _, devices = str(grade or GRADE_UNKNOWN).partition("\u00d7")
    return base, devices


@register.filter
def grade_rule(grade) -> str:
    """The rule behind a grade (core/grades.py's one table), shown as the chip's tooltip."""
    base, devices = _grade_parts(grade)
    rule = GRADE_RULES.get(base, GRADE_RULES[GRADE_UNKNOWN])
    return f"{rule}, on {devices} devices (tensor parallel)" if devices else rule


@register.filter
def grade_class(grade) -> str:
    base, _ = _grade_parts(grade)
    return f"grade-{base}" if base in GRADE_RULES and base != GRADE_UNKNOWN else "grade-unknown"


@register.filter
def ratio(value) -> str:
    """A speed-up: 3.2 -> 3.2×."""
    number = _number(value)
    return MISSING if number is None else f"{three_figures(number)}×"


@register.filter
def num_short(value) -> str:
    """A large count in words: 12,400,000 -> 12.4 million."""
    number = _number(value)
    if number is None:
        return MISSING
    for size, word in ((1e9, "billion"), (1e6, "million")):
        if abs(number) >= size:
            return f"{three_figures(number / size)} {word}"
    return f"{number:,.0f}"


@register.filter
def query_with(controls, name: str) -> str:
    """The page's query string without `name`, ending so that `name=` can follow: 'a=1&name='."""
    query = controls.query(**{name: None})
    return f"{query}&{name}=" if query else f"{name}="


@register.simple_tag
def grade_chip(grade) -> str:
    """A grade as a coloured chip whose tooltip is its rule (includes/grade_chip.html renders this).

    A tag, not a template: a device page draws hundreds of them.
    """
    return format_html('<span class="grade {}" title="{}">{}</span>', grade_class(grade), grade_rule(grade), grade or "?")


@register.simple_tag
def memory_bar(bar) -> str:
    """A memory bar (hwfit.pages.tables.MemoryBar) as inline SVG: no script, no inline style."""
    if bar is None or not bar.known:
        return mark_safe('<span class="unknown">unknown</span>')
    parts = " · ".join(f"{segment.name} {gb(segment.bytes)}" for segment in bar.segments)
    usable = f" of {gb(bar.usable)} usable" if bar.usable else ""
    rects = format_html_join("", '<rect class="mem-{}" x="{}" y="1" width="{}" height="8"/>',
                             ((i, f"{s.x:.3f}", f"{s.width:.3f}") for i, s in enumerate(bar.segments, start=1)))
    line = format_html('<line class="usable" x1="{0}" x2="{0}" y1="0" y2="10" vector-effect="non-scaling-stroke"/>',
                       f"{bar.usable_x:.3f}") if bar.usable_x is not None else ""
    text = gb(bar.total) + (f" / {gb(bar.usable)}" if bar.usable else "")
    return format_html(
        '<span class="membar{}"><svg viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="{}">'
        '<title>{}</title>{}{}</svg><span class="memtext">{}</span></span>',
        "" if bar.fits else " short", f"{gb(bar.total)} needed{usable}", f"{parts}{usable}", rects, line, text)
