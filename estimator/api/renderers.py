from __future__ import annotations

import csv
import io

from rest_framework.renderers import BaseRenderer

from estimator.services import flat_record
from hwfit.csv_cells import spreadsheet_safe


class CompatibilityCSVRenderer(BaseRenderer):
    """A compatibility table as CSV: one row per result, nested fields as `section.field`."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        records = data if isinstance(data, list) else [data]
        # Names come from the catalog, which staff and imports fill: a name starting with `=` is
        # written as text, not as a formula the spreadsheet would run.
        rows = [{key: spreadsheet_safe(cell) for key, cell in flat_record(record).items()} for record in records]
        out = io.StringIO()
        if rows:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            # None is an empty cell: unknown, never zero.
            writer.writerows(rows)
        return out.getvalue().encode(self.charset)
