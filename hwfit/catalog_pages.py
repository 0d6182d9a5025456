"""Read-only catalog pages: every field with its value, 'unknown' when no source states it,
and a mark on the fields derived by a documented rule."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class FieldRow:
    label: str
    value: object
    unit: str
    known: bool
    derived: bool


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
            rows.append(FieldRow(label=str(field.verbose_name), value=value, unit=unit, known=known, derived=name in derived))
        out.append((title, rows))
    return out
