from __future__ import annotations

import csv
import io

from rest_framework.renderers import BaseRenderer

from estimator.services import flat_record


class CompatibilityCSVRenderer(BaseRenderer):
    """A compatibility table as CSV: one row per result, nested fields as `section.field`."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        rows = [flat_record(record) for record in data] if isinstance(data, list) else [flat_record(data)]
        out = io.StringIO()
        if rows:
            # Every row's columns, in first-seen order: a nested field that is null in one row
            # (`accuracy`) and an object in another (`accuracy.n`, ...) gets its columns either way.
            fieldnames = list(dict.fromkeys(name for row in rows for name in row))
            writer = csv.DictWriter(out, fieldnames=fieldnames, restval="", lineterminator="\n")
            writer.writeheader()
            # None is an empty cell: unknown, never zero.
            writer.writerows(rows)
        return out.getvalue().encode(self.charset)
