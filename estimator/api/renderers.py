from __future__ import annotations

import csv
import io
import logging
import threading
from collections import OrderedDict

from django.core.cache import cache
from rest_framework.renderers import BaseRenderer

from estimator.services import flat_record
from hwfit import deferred
from hwfit.csv_cells import FORMULA_STARTS

logger = logging.getLogger(__name__)

# CSV files written from the same (cached) list of records: the whole table of a model is ~4 MB
# and takes most of a second to write, while the list is reused until the catalog changes. A
# table kept in the shared cache (`cache_key`) has its CSV kept there too, for other processes.
SHARED_CSV_TIMEOUT_S = 3600
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
        key = getattr(records, "cache_key", None)
        content = _shared_csv(key) if key else None
        if content is None:
            content = _csv(records).encode(self.charset)
            if key:
                deferred.defer(_shared_csv_set, key, content)
        with _written_lock:
            # The list is held with its CSV, so its id cannot be reused by another list meanwhile.
            _written[id(records)] = (records, content)
            while len(_written) > KEEP_WRITTEN:
                _written.popitem(last=False)
        return content


def _shared_csv(key: str) -> bytes | None:
    try:
        content = cache.get(f"estimator:csv:{key}")
    except Exception:  # noqa: BLE001 - an unreachable cache: write it instead
        logger.warning("CSV %s not read from the cache", key, exc_info=True)
        return None
    return content if isinstance(content, bytes) else None


def _shared_csv_set(key: str, content: bytes) -> None:
    try:
        cache.set(f"estimator:csv:{key}", content, SHARED_CSV_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - only costs writing it again elsewhere
        logger.warning("CSV %s not stored in the cache", key, exc_info=True)


def _csv(records: list[dict]) -> str:
    out = io.StringIO()
    if not records:
        return ""
    rows = [flat_record(record) for record in records]
    # Every row's columns, in first-seen order: a nested field that is null in one row
    # (`accuracy`) and an object in another (`accuracy.n`, ...) gets its columns either way.
    fieldnames = list(dict.fromkeys(name for row in rows for name in row))
    writer = csv.DictWriter(out, fieldnames=fieldnames, restval="", lineterminator="\n")
    writer.writeheader()
    # Names come from the catalog, which staff and imports fill: text a spreadsheet would run as
    # a formula (`=...`, `+`, `-`, `@`, tab, CR first) gets a leading `'` (hwfit/csv_cells.py).
    # None is an empty cell: unknown, never zero.
    writer.writerows(
        {name: "'" + cell if type(cell) is str and cell.startswith(FORMULA_STARTS) else cell
         for name, cell in row.items()}
        for row in rows
    )
    return out.getvalue()
