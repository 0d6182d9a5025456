"""A compatibility table: the core's columns kept compactly, computed as pages are read.

A table has thousands of rows and a JSON page shows fifty: `ResultTable` keeps the core's columns
(`_compact`: a column equal in every row once, text as codes), computes them a chunk at a time as
pages ask (or whole, for a CSV or a page's charts), and turns only the rows asked for into the
API's result objects (`results.result_records`). Kept per process and, once complete, in the
shared cache (`catalog_cache.compatibility_cached`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from estimator.core.architecture import Coded
from estimator.services.results import _shown, result_records


class Records(list):
    """A whole table's result objects, naming the cached table they come from (`cache_key`, or None)."""

    cache_key: str | None = None


# Rows computed together when a page asks for rows not computed yet. The core's cost is mostly
# per call, not per row (on the 2-core dev machine ~2 ms for one row, ~4.5 ms for 128, ~11 ms for a
# model's 4,669): a page of 50 computes the 128 around it, and the next page finds them computed.
CHUNK_ROWS = 128
# A table read beyond this many chunks (paged through) is computed whole at the next one: one
# call for the rest costs less than a call per chunk.
CHUNKS_BEFORE_WHOLE = 2
# A table of at most this many rows is computed whole at its first page (about a chunk's cost),
# and so is complete and shared with the other processes.
WHOLE_ROWS = CHUNKS_BEFORE_WHOLE * CHUNK_ROWS


class ResultTable(Sequence):
    """The core's result columns as a sequence of API result objects, formatted when sliced.

    A compatibility table has thousands of rows and a JSON page shows fifty: the paginator slices
    this, and only the rows of the page are turned into dicts. The result is kept as the core's
    arrays (`pipeline.estimate_columns`): a page takes its rows from each, with no frame to build.

    Built with `compute` (rows -> the core's columns for them), a table is computed as it is read:
    a page computes only the chunk(s) of CHUNK_ROWS rows it shows; the whole table (`table[:]`, a
    CSV or a page's charts, or a table paged beyond CHUNKS_BEFORE_WHOLE chunks) all of its rows in
    one call. The rows come in a fixed order (the catalog's), so a page never needs the others. `on_complete` is called once every row is
    computed (the shared cache stores complete tables only).
    """

    def __init__(self, result: Mapping[str, Any] | None = None, *, mode: str | None,
                 compute: Callable[[slice], Mapping[str, Any]] | None = None, n: int | None = None):
        if (result is None) == (compute is None):
            raise TypeError("give the result, or compute and n")
        self.mode = mode
        self._compute = compute
        # Kept as `_compact` leaves them: the table stays in memory and is written to the shared
        # cache once complete, and its size is that write's cost. Chunk start -> its columns.
        self._chunks: dict[int, dict[str, Any]] = {}
        self.result: dict[str, Any] | None = None
        if result is not None:
            self.result = _compacted(result)
            n = len(result["context"])  # a number per row (text may come as codes)
        self.n = int(n)
        # Set by estimator/services/catalog_cache.py for a table it keeps: what its CSV is cached under.
        self.cache_key: str | None = None
        self.on_complete: Callable[[ResultTable], None] | None = None
        self._all: Records | None = None
        # A kept table is read by every thread of the process: one computes what is missing while
        # the others wait for it, rather than all computing it (and storing it) at once.
        self._lock = threading.Lock()

    @property
    def complete(self) -> bool:
        return self.result is not None

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):
        if index == slice(None):
            # The whole table (a CSV download): formatted once per table kept in the cache, and
            # the same list each time, so the CSV renderer can reuse what it wrote from it.
            if self._all is None:
                self._all = Records(self._format(index))
                self._all.cache_key = self.cache_key
            return self._all
        return self._format(index)

    def __getstate__(self) -> dict[str, Any]:
        # The shared cache stores a complete table's columns: not their formatting, nor how to compute them.
        if not self.complete:
            raise TypeError("only a complete ResultTable is pickled")
        state = {**self.__dict__, "_all": None, "_compute": None, "_chunks": {}, "on_complete": None}
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _complete(self) -> None:
        with self._lock:
            if self.complete:  # another thread computed it meanwhile
                return
            # Every row in one core call: cheaper than the chunks left, and what the shared cache keeps.
            self.result = _compacted(self._compute(slice(0, self.n)))
            self._chunks.clear()
        if self.on_complete is not None:
            self.on_complete(self)

    def _chunk(self, start: int) -> dict[str, Any]:
        chunk = self._chunks.get(start)
        if chunk is None:
            with self._lock:
                chunk = self._chunks.get(start)
                if chunk is None:
                    stop = min(start + CHUNK_ROWS, self.n)
                    chunk = self._chunks[start] = _compacted(self._compute(slice(start, stop)))
        return chunk

    def _needs_whole(self, rows: np.ndarray) -> bool:
        if self.complete or not self.n:
            return False
        if len(rows) == self.n or self.n <= WHOLE_ROWS:
            return True  # every row, or a table of a chunk or two: whole, and so shared
        missing = {int(start) for start in np.unique(rows - rows % CHUNK_ROWS)} - set(self._chunks)
        return bool(missing) and len(self._chunks) + len(missing) > CHUNKS_BEFORE_WHOLE

    def _pieces(self, rows: np.ndarray):
        """(columns, positions in them) covering `rows` in order: the whole result, or its chunks."""
        if self.complete:
            yield self.result, rows
            return
        if not len(rows):
            return
        starts = rows - rows % CHUNK_ROWS
        breaks = np.flatnonzero(np.diff(starts)) + 1
        for run, run_starts in zip(np.split(rows, breaks), np.split(starts, breaks)):
            yield self._chunk(int(run_starts[0])), run - run_starts[0]

    def _format(self, index):
        rows = np.arange(self.n)[index if isinstance(index, slice) else [index]]
        if self._needs_whole(rows):
            self._complete()
        records: list[dict[str, Any]] = []
        for result, positions in self._pieces(rows):
            columns = {name: _take(values, positions) for name, values in result.items()}
            n = len(positions)
            records += result_records(columns, modes=[self.mode] * n,
                                      inline={part: [False] * n for part in ("model", "quantization", "device")})
        # The accuracy ledger of each row's (device, runtime): one query for the rows shown.
        from estimator.calibration.ledger import estimates_with_accuracy

        records = estimates_with_accuracy(records)
        return records if isinstance(index, slice) else records[0]


def _compacted(result: Mapping[str, Any]) -> dict[str, Any]:
    """Only what a result object shows, compacted (`_compact`)."""
    return {name: _compact(values) for name, values in result.items() if _shown(name)}


class _Same:
    """A column with one value in every row (a device's figures in a device's table): kept once."""

    __slots__ = ("value", "dtype")

    def __init__(self, value: Any, dtype: np.dtype):
        self.value, self.dtype = value, dtype

    def __getstate__(self):
        return self.value, self.dtype

    def __setstate__(self, state):
        self.value, self.dtype = state


class _Codes:
    """A text column as codes into its labels (a categorical's; the last label, NaN, for code -1)."""

    __slots__ = ("codes", "labels")

    def __init__(self, codes: np.ndarray, labels: np.ndarray):
        self.codes, self.labels = codes, labels

    def __getstate__(self):
        return self.codes, self.labels

    def __setstate__(self, state):
        self.codes, self.labels = state


def _compact(values: Any) -> np.ndarray | _Same | _Codes:
    """A result column as kept by a `ResultTable`; `_take` gives back the rows as the column held them.

    Numbers equal bit for bit in every row become one value (-0.0 is not 0.0, NaNs are kept as
    they are); text (a categorical, or the core's `Coded`) keeps its codes and its labels.
    """
    if isinstance(values, Coded):
        # The core's codes are machine integers: a handful of labels fits a byte per row.
        size = len(values.uniques)
        dtype = np.int8 if size < 2**7 else np.int16 if size < 2**15 else np.int32
        return _Codes(values.codes.astype(dtype), values.uniques)
    if isinstance(values, pd.Categorical):
        labels = np.append(np.asarray(values.categories, dtype=object), np.nan)
        return _Codes(np.asarray(values.codes), labels)
    values = np.asarray(values)
    if values.dtype.kind in "fbiu" and len(values):
        bits = values.view(f"u{values.dtype.itemsize}")
        if (bits == bits[0]).all():
            return _Same(values[0], values.dtype)
    return values


def _take(values: np.ndarray | _Same | _Codes, rows: np.ndarray) -> np.ndarray:
    if isinstance(values, _Same):
        return np.full(len(rows), values.value, dtype=values.dtype)
    if isinstance(values, _Codes):
        return values.labels[values.codes[rows]]
    return values[rows]
