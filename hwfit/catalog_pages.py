"""Read-only catalog pages: every field with its value, 'unknown' when no source states it,
and a mark on the fields derived by a documented rule."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import models


# Fields whose value is a place on the web: shown as a link.
FIELD_LINKS = {"hf_repo": "https://huggingface.co/{}"}


@dataclass(frozen=True)
class FieldRow:
    label: str
    value: object
    unit: str
    known: bool
    derived: bool
    link: str = ""
    name: str = ""

    @property
    def text(self) -> str:
        """The value with its one unit, as people read it: '$1,599', '1,008 GB/s', '262,144 tokens', 'yes'."""
        from hwfit.pages.templatetags.hwfit_format import num, usd

        if isinstance(self.value, bool):
            return "yes" if self.value else "no"
        if isinstance(self.value, (int, float)):
            if self.name.endswith("_year"):
                return str(self.value)  # 2022, not 2,022
            if self.unit == "$":
                return usd(self.value)
            return f"{num(self.value)} {self.unit}".strip()
        return f"{self.value} {self.unit}".strip()


def field_rows(instance: models.Model, groups: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]) -> list[tuple[str, list[FieldRow]]]:
    """(group title, rows) for a detail page; `groups` names each field with its unit."""
    derived = set(getattr(instance, "derived_fields", None) or [])
    out = []
    for title, fields in groups:
        rows = []
        for name, unit in fields:
            field = instance._meta.get_field(name)
            value = getattr(instance, f"get_{name}_display")() if field.choices else getattr(instance, name)
            known = value not in (None, "")
            link = FIELD_LINKS[name].format(value) if known and name in FIELD_LINKS else ""
            rows.append(FieldRow(label=str(field.verbose_name), value=value, unit=unit, known=known,
                                 derived=name in derived, link=link, name=name))
        out.append((title, rows))
    return out


# Notes internal to the project that wrote the catalog: not a public source a reader can follow.
INTERNAL_SOURCE = re.compile(r"shared/|\b(DESIGN|DIFFUSION|STYLE)\.md\b|measured_runs_dev|diffusion_runs_dev", re.I)
PROJECT_DEFINITION = "hwfit project definition"


def public_source(text: str) -> str:
    """A record's source text without the clauses that cite internal notes (pages show this).

    Sources are clauses joined by '; '. A clause citing an internal note is dropped; a
    parenthesis citing one is dropped from its clause. What is left cites public sources only;
    a record sourced only internally reads as the project's own definition.
    """
    kept = []
    for clause in text.split(";"):
        clause = re.sub(r"\s*\([^()]*\)", lambda m: "" if INTERNAL_SOURCE.search(m.group(0)) else m.group(0), clause)
        if clause.strip() and not INTERNAL_SOURCE.search(clause):
            kept.append(clause.strip())
    return "; ".join(kept) or PROJECT_DEFINITION
