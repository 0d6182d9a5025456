"""What every sourced catalog record shares: where it came from and what was derived."""

from __future__ import annotations

import math
import sys

from django.core.exceptions import ValidationError
from django.db import models


FLOAT_MAX = sys.float_info.max


class SourcedRecord(models.Model):
    """A catalog row imported from the shared data (or entered by staff), with its provenance.

    `source` names where each fact came from; `derived_fields` lists the fields computed by a
    documented rule rather than read from a source, so pages can say so.
    """

    source = models.TextField(help_text="Where the facts of this record come from.")
    notes = models.TextField(blank=True, default="")
    derived_fields = models.JSONField(
        default=list, blank=True, help_text="Fields derived by a documented rule, not read from a source."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def clean(self) -> None:
        # An emptied JSON box in a form arrives as None; "no derived fields" is the empty list.
        if self.derived_fields is None:
            self.derived_fields = []
        elif not isinstance(self.derived_fields, list):
            raise ValidationError({"derived_fields": "Give a list of field names, e.g. [\"head_dim\"]."})
        errors = non_finite_errors(self)
        if errors:
            raise ValidationError(errors)


def positive(field: str, *, finite: bool = False) -> models.Q:
    """`field` is NULL or > 0 — the database side of 'unknown, never zero'.

    `finite` (for float columns): PostgreSQL floats hold Infinity and NaN; `<= FLOAT_MAX` rejects
    both (NaN sorts above every number there), and unlike an Infinity literal it renders in SQLite.
    """
    bound = {f"{field}__lte": FLOAT_MAX} if finite else {}
    return models.Q(**{f"{field}__isnull": True}) | models.Q(**{f"{field}__gt": 0}, **bound)


def non_finite_errors(instance: models.Model) -> dict[str, str]:
    """One error per float field holding Infinity or NaN: they break JSON and every sum they enter."""
    errors = {}
    for field in instance._meta.concrete_fields:
        value = getattr(instance, field.attname)
        if isinstance(field, models.FloatField) and isinstance(value, float) and not math.isfinite(value):
            label = str(field.verbose_name)
            errors[field.name] = f"{label[0].upper()}{label[1:]} must be a finite number, not {value}."
    return errors


def positive_constraints(model_name: str, fields: tuple[str, ...], *, finite: tuple[str, ...] = ()) -> list[models.CheckConstraint]:
    """A `positive` constraint per field; those also in `finite` (float columns) must be finite too."""
    return [
        models.CheckConstraint(condition=positive(field, finite=field in finite), name=f"{model_name}_{field}_positive")
        for field in fields
    ]


def positive_errors(record: models.Model, fields: tuple[str, ...]) -> dict[str, str]:
    """The `clean()` side of `positive_constraints`: each field given as 0 or less, with its reason."""
    errors = {}
    for field in fields:
        value = getattr(record, field)
        if value is not None and value <= 0:
            label = str(record._meta.get_field(field).verbose_name)
            # Only the first letter: "KV heads", "Memory bandwidth (GB/s)" keep their capitals.
            errors[field] = f"{label[0].upper()}{label[1:]} must be greater than 0 (leave it empty if unknown)."
    return errors
