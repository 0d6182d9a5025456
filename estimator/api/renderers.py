from __future__ import annotations

import csv
import io
import threading
from collections import OrderedDict

from rest_framework.renderers import BaseRenderer

from estimator.services import flat_record
from hwfit.csv_cells import FORMULA_STARTS

# CSV files written from the same (cached) list of records: the whole table of a model is ~4 MB
# and takes most of a second to write, while the list is reused until the catalog changes.
_written: OrderedDict[int, tuple[list, bytes]] = OrderedDict()
_written_lock = threading.Lock()
KEEP_WRITTEN = 8


class CompatibilityCSVRenderer(BaseRenderer):
    """A compatibility table as CSV: one row per result, nested fields as `section.field`."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        records = data if isinstance(data, list) else [data]
        seen = _written.get(id(records))
        if seen is not None and seen[0] is records:
            return seen[1]
        content = _csv(records).encode(self.charset)
        with _written_lock:
            # The list is held with its CSV, so its id cannot be reused by another list meanwhile.
            _written[id(records)] = (records, content)
            while len(_written) > KEEP_WRITTEN:
                _written.popitem(last=False)
        return content


def _csv(records: list[dict]) -> str:
    out = io.StringIO()
    if not records:
        return ""
    rows = [flat_record(record) for record in records]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(rows[0]))
    # Names come from the catalog, which staff and imports fill: text a spreadsheet would run as
    # a formula (`=...`, `+`, `-`, `@`, tab, CR first) gets a leading `'` (hwfit/csv_cells.py).
    # None is an empty cell: unknown, never zero.
    writer.writerows(
        ["'" + cell if type(cell) is str and cell.startswith(FORMULA_STARTS) else cell for cell in row.values()]
        for row in rows
    )
    return out.getvalue()
