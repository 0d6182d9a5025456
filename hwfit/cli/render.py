"""Terminal output: aligned tables, grades in colour when the output is a terminal."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any, TextIO

# ANSI colours per grade (docs/estimator.md grade table): fast green, usable yellow, no red.
_GRADE_COLOURS = {"SS": "1;32", "S": "32", "A": "36", "B": "33", "C": "33", "F": "31", "?": "2"}


def use_colour(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set (no-color.org)."""
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


def grade(text: str, colour: bool) -> str:
    code = _GRADE_COLOURS.get(text)
    return f"\033[{code}m{text}\033[0m" if colour and code else text


def number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def gigabytes(value: float | None) -> str:
    return "—" if value is None else f"{value / 1e9:,.1f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, colour: bool, grade_column: int | None = None,
          right: Sequence[int] = ()) -> str:
    """Columns padded to their widest cell; the grade column coloured after padding."""
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str], paint: bool) -> str:
        out = []
        for i, cell in enumerate(cells):
            padded = cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            out.append(grade(cell, colour).ljust(widths[i] + (len(grade(cell, colour)) - len(cell)))
                       if paint and i == grade_column else padded)
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers, False), rule, *(line(row, True) for row in rows)])


def key_values(pairs: Sequence[tuple[str, Any]]) -> str:
    width = max(len(key) for key, _ in pairs)
    return "\n".join(f"{key.ljust(width)}  {'—' if value is None or value == '' else value}" for key, value in pairs)


def dumps(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=False, default=str)
