"""Catalog tables as CSV: export what a changelist shows, import a file all or nothing.

Export writes one column per stored field (a foreign key as the related record's slug, JSON as
JSON text). A text cell that a spreadsheet would run as a formula (starting with = + - @, a tab or
a carriage return) is written with a leading apostrophe, which the import takes off again, so an
exported file imports back unchanged.

Import parses every row, builds or updates the record it names (by its natural key), and runs the
model's `full_clean()` — the admin's own validation. Any bad row (row number, field, reason) means
nothing is written; a clean file is saved in one transaction.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction

# Fields the database fills in, never read from a file.
_AUTOMATIC = ("id", "created_at", "updated_at")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TRUE, _FALSE = ("true", "1", "yes", "y", "t"), ("false", "0", "no", "n", "f")


def csv_fields(model: type[models.Model]) -> list[models.Field]:
    return [f for f in model._meta.concrete_fields if f.name not in _AUTOMATIC]


def _cell(field_: models.Field, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(field_, models.JSONField):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    # A formula-looking text cell is written as text (OWASP "CSV injection").
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_export(queryset: models.QuerySet) -> Iterator[str]:
    """CSV lines (header first) of every record in `queryset`, one query (foreign keys joined)."""
    fields = csv_fields(queryset.model)
    relations = [f.name for f in fields if f.is_relation]
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow([f.name for f in fields])
    yield flush()
    for record in queryset.select_related(*relations).iterator(chunk_size=500):
        writer.writerow([_cell(f, getattr(getattr(record, f.name), "slug", None) if f.is_relation
                               else getattr(record, f.name)) for f in fields])
        yield flush()


@dataclass
class RowError:
    row: int       # the file's line number (the header is row 1)
    field: str
    reason: str


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)


def _parse(field_: models.Field, text: str) -> Any:
    """A cell -> the field's value (raises ValidationError with the reason)."""
    if text == "":
        if field_.null:
            return None
        if isinstance(field_, models.JSONField) or field_.has_default():
            return field_.get_default()
        if field_.blank:
            return ""
        raise ValidationError("This field cannot be empty.")
    if isinstance(field_, models.JSONField):
        try:
            return json.loads(text)
        except ValueError:
            raise ValidationError(f"Not valid JSON: {text[:60]!r}.") from None
    if isinstance(field_, models.BooleanField):
        lowered = text.strip().lower()
        if lowered in _TRUE or lowered in _FALSE:
            return lowered in _TRUE
        raise ValidationError(f"'{text}' is not true or false.")
    if isinstance(field_, models.ForeignKey):
        related = field_.related_model.objects.filter(slug=text.strip()).first()
        if related is None:
            raise ValidationError(f"No {field_.related_model._meta.verbose_name} with slug '{text.strip()}'.")
        return related
    if isinstance(field_, (models.CharField, models.TextField)):
        # Undo the export's formula guard.
        return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START) else text
    return field_.to_python(text.strip())


def _messages(exc: ValidationError) -> Iterable[tuple[str, str]]:
    if hasattr(exc, "error_dict"):
        for name, messages in exc.message_dict.items():
            for message in messages:
                yield ("(row)" if name == NON_FIELD_ERRORS else name), message
    else:
        for message in exc.messages:
            yield "(row)", message


def csv_import(model: type[models.Model], text: str, *, key: tuple[str, ...],
               published_facts: tuple[str, ...] = ()) -> ImportResult:
    """Create or update `model` records from CSV text; with any bad row, write nothing.

    `key`: the columns naming a record (a slug, or a price's provider and label); a row whose key
    matches a record updates it, otherwise it is a new one. `published_facts`: fields a published
    price keeps once saved (hwfit/admin_base.py) — a row changing them is refused.
    """
    result = ImportResult()
    reader = csv.DictReader(io.StringIO(text))
    fields = {f.name: f for f in csv_fields(model)}
    header = reader.fieldnames or []
    unknown = [name for name in header if name not in fields]
    missing_key = [name for name in key if name not in header]
    if not header:
        result.errors.append(RowError(1, "(file)", "The file is empty: the first row names the columns."))
    for name in unknown:
        result.errors.append(RowError(1, name, f"Unknown column: {model._meta.verbose_name} has no field '{name}'."))
    for name in missing_key:
        result.errors.append(RowError(1, name, f"The column '{name}' is needed to name each record."))
    if result.errors:
        return result
    pending: list[tuple[models.Model, bool]] = []
    seen: dict[tuple, int] = {}
    for row in reader:
        line = reader.line_num
        if None in row:
            result.errors.append(RowError(line, "(row)", "More cells than columns."))
            continue
        values, problems = {}, []
        for name, text in row.items():
            try:
                values[name] = _parse(fields[name], text or "")
            except ValidationError as exc:
                problems += [(name, message) for _, message in _messages(exc)]
        lookup = {name: values.get(name) for name in key}
        identity = tuple(str(v) for v in lookup.values())
        if identity in seen and not problems:
            problems.append((key[0], f"Row {seen[identity]} already names this record."))
        seen.setdefault(identity, line)
        instance = None if problems else model.objects.filter(**lookup).first()
        created = instance is None
        if not problems:
            if created:
                instance = model(**values)
            else:
                for name in published_facts:
                    if name in values and values[name] != getattr(instance, name):
                        problems.append((name, "A published price is not edited in place: add a new record."))
                for name, value in values.items():
                    setattr(instance, name, value)
            try:
                instance.full_clean()
            except ValidationError as exc:
                problems += list(_messages(exc))
        if problems:
            result.errors += [RowError(line, name, reason) for name, reason in problems]
        else:
            pending.append((instance, created))
    if result.errors:
        return result
    try:
        with transaction.atomic():
            for instance, created in pending:
                instance.save()
                if created:
                    result.created += 1
                else:
                    result.updated += 1
    except IntegrityError as exc:
        result.created = result.updated = 0
        result.errors.append(RowError(0, "(file)", f"The rows conflict with each other or with a record saved "
                                                   f"meanwhile: {str(exc).splitlines()[0]}"))
    return result
