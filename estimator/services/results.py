"""The core's result frame as the API's result objects: JSON-safe, nested by section.

`result_records` is the one place a core column gets its API name (`_SPEC`); a compatibility
table is a `ResultTable` that formats only the rows a page shows; `flat_record` is a CSV row.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from estimator.core.architecture import Coded
from estimator.core.outputs import json_values


def context_within_window(context: pd.Series | np.ndarray, max_context: pd.Series | np.ndarray) -> np.ndarray:
    """Per row: the context fits the model's window (True/False), or None where the window is unknown."""
    context = pd.to_numeric(pd.Series(np.asarray(context)), errors="coerce").to_numpy(dtype=np.float64)
    window = pd.to_numeric(pd.Series(np.asarray(max_context)), errors="coerce").to_numpy(dtype=np.float64)
    within = np.where(context <= window, True, False).astype(object)
    within[np.isnan(window) | np.isnan(context)] = None
    return within


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
    one call. The rows come in a fixed order (the
    catalog's), so a page never needs the others. `on_complete` is called once every row is
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


def _as_int(values: list[Any]) -> list[int | None]:
    return [None if v is None else int(v) for v in values]


def _rules(values: list[Any]) -> list[list[str]]:
    """'head_dim,kv_heads' -> ['head_dim', 'kv_heads']: the derivation rules a row used."""
    return [[rule for rule in str(v or "").split(",") if rule] for v in values]


# (section, API field, core column, converter). Section "" = top level.
_SPEC: tuple[tuple[str, str, str, Callable[[list[Any]], list[Any]] | None], ...] = (
    ("workload", "context_tokens", "context", _as_int),
    ("workload", "prompt_tokens", "prompt_len", _as_int),
    ("workload", "gen_tokens", "gen_len", _as_int),
    ("workload", "decode_context_tokens", "decode_context", _as_int),
    ("workload", "batch", "batch", _as_int),
    ("workload", "block_size", "diffusion_block_size", _as_int),
    ("workload", "steps_per_block", "diffusion_steps_per_block", None),
    ("workload", "kv_cache_dtype", "kv_dtype", None),
    ("workload", "device_count", "n_devices", _as_int),
    ("workload", "parallel", "parallel", None),
    ("workload", "devices_asked", "devices_asked", _as_int),
    ("", "verdict", "verdict", None),
    ("", "verdict_reason", "verdict_reason", None),
    ("", "configuration_note", "configuration_note", None),
    ("", "devices_needed", "devices_needed", _as_int),
    ("", "layers_on_device", "layers_on_device", _as_int),
    ("", "format_supported", "format_supported", None),
    ("", "ttft_s", "ttft_s", None),
    ("", "grade", "grade", None),
    ("", "calibrated", "calibrated", None),
    ("", "quality_tier", "quality_tier", None),
    ("", "context_within_window", "context_within_window", None),
    ("memory", "total_bytes", "mem_total_bytes", None),
    ("memory", "weights_bytes", "mem_weights_bytes", None),
    ("memory", "weights_embedding_bytes", "mem_weights_embedding_bytes", None),
    ("memory", "weights_dense_bytes", "mem_weights_dense_bytes", None),
    ("memory", "weights_experts_bytes", "mem_weights_experts_bytes", None),
    ("memory", "vision_bytes", "mem_vision_bytes", None),
    ("memory", "kv_cache_bytes", "mem_kv_cache_bytes", None),
    ("memory", "activations_bytes", "mem_activations_bytes", None),
    ("memory", "logits_bytes", "mem_logits_bytes", None),
    ("memory", "overhead_bytes", "mem_overhead_bytes", None),
    ("memory", "usable_bytes", "mem_usable_bytes", None),
    ("memory", "headroom_bytes", "mem_headroom_bytes", None),
    ("speed", "decode_tokens_per_s", "decode_tok_s", None),
    ("speed", "decode_bound", "decode_bound", None),
    ("speed", "prefill_tokens_per_s", "prefill_tok_s", None),
    ("speed", "prefill_bound", "prefill_bound", None),
    ("speed", "prefill_s", "prefill_s", None),
    ("speed", "diffusion_tokens_per_s", "diffusion_tok_s", None),
    ("speed", "diffusion_end_to_end_tokens_per_s", "diffusion_e2e_tok_s", None),
    ("speed", "diffusion_bound", "diffusion_bound", None),
    ("speed", "diffusion_s", "diffusion_s", None),
    ("speed", "generation_tokens_per_s_batch1", "gen_tok_s_batch1", None),
    ("speed", "max_batch", "max_batch", _as_int),
    ("speed", "max_batch_tokens_per_s", "max_batch_tok_s", None),
    ("speed", "max_batch_bound", "max_batch_bound", None),
    ("cost", "usd_per_kwh", "usd_per_kwh", None),
    ("cost", "power_w", "power_w", None),
    ("cost", "energy_usd_per_mtok", "energy_usd_per_mtok", None),
    ("cost", "energy_usd_per_mtok_max_batch", "energy_usd_per_mtok_max_batch", None),
    ("cost", "rental_usd_per_hour", "rental_usd_per_hour", None),
    ("cost", "rental_usd_per_mtok", "rental_usd_per_mtok", None),
    ("cost", "rental_usd_per_mtok_max_batch", "rental_usd_per_mtok_max_batch", None),
    ("cost", "api_usd_per_mtok", "api_usd_per_mtok", None),
    ("cost", "rental_provider", "rental_provider", None),
    ("cost", "rental_tier", "rental_tier", None),
    ("cost", "rental_as_of", "rental_as_of", None),
    ("cost", "rental_offer_gpu_count", "rental_gpu_count", None),
    ("cost", "api_provider", "api_provider", None),
    ("cost", "api_as_of", "api_as_of", None),
    ("working", "decode_pass_s", "decode_pass_s", None),
    ("working", "decode_compute_s", "decode_compute_s", None),
    ("working", "decode_memory_s", "decode_memory_s", None),
    ("working", "decode_overhead_s", "decode_overhead_s", None),
    ("working", "decode_flops", "decode_flops", None),
    ("working", "decode_bytes", "decode_bytes", None),
    ("working", "prefill_flops", "prefill_flops", None),
    ("working", "prefill_bytes", "prefill_bytes", None),
    ("working", "prefill_passes", "prefill_passes", None),
    ("working", "diffusion_flops", "diffusion_flops", None),
    ("working", "diffusion_bytes", "diffusion_bytes", None),
    ("working", "diffusion_forwards", "diffusion_forwards", None),
    ("working", "tokens_per_forward", "diffusion_tokens_per_forward", None),
    ("working", "tokens_per_forward_source", "diffusion_tpf_source", None),
    ("working", "experts_touched_fraction", "experts_touched_frac", None),
    ("working", "peak_flops", "peak_flops", None),
    ("working", "peak_flops_source", "peak_flops_source", None),
    ("working", "bandwidth_bytes_per_s", "bandwidth_bytes_s", None),
    ("working", "peak_flops_is_fallback", "peak_flops_is_fallback", None),
    ("working", "vector_peak_flops", "vector_peak_flops", None),
    ("working", "vector_peak_source", "vector_peak_source", None),
    ("working", "decode_compute_known", "decode_compute_known", None),
    ("working", "eff_m", "eff_m", None),
    ("working", "eff_c", "eff_c", None),
    ("working", "eff_attn", "eff_attn", None),
    ("working", "bandwidth_cap_bytes_per_s", "bw_cap_bytes_s", None),
    ("working", "t_fixed_s", "t_fixed_s", None),
    ("working", "dequant_class", "dequant_class", None),
    ("working", "prior_group", "prior_group", None),
    ("working", "error_band_prefill", "error_band_prefill", None),
    ("working", "derived", "derived", _rules),
)


# Every core column `result_records` reads: _SPEC's, those `_mode_columns` picks from, the
# identities and the tokens-per-forward sweep (`_tpf_sensitivity`). A `ResultTable` keeps these alone.
_READ = frozenset({
    *(name for _, _, name, _ in _SPEC), "generation_mode", "runtime", "error_band", "error_band_prefill",
    *(f"{what}_{part}" for what in ("decode", "prefill", "diffusion") for part in ("tok_s", "bound")),
    "decode_pass_s", "prefill_s", "diffusion_s", "diffusion_tokens_per_forward",
    *(f"{prefix}_{part}" for prefix in ("model", "quant", "device") for part in ("slug", "name")),
})
_SWEEP = "diffusion_tok_s_tpf_x"


def _shown(name: str) -> bool:
    return name in _READ or name.startswith(_SWEEP)


# A result is the core's estimate frame, or its columns as arrays (`pipeline.estimate_columns`):
# both are read by column name only (`result[name]`, `name in result`).
Result = pd.DataFrame | Mapping[str, Any]


def _mode_columns(result: Result, modes: list[str | None]) -> dict[str, np.ndarray]:
    """The headline figures of each row's mode (default: the model's own generation mode)."""
    diffusion_model = np.asarray(result["generation_mode"] == "block_diffusion")
    mode = np.array([m or "" for m in modes], dtype=object)
    mode = np.where(mode == "", np.where(diffusion_model, "diffusion", "decode"), mode)
    is_prefill, is_diffusion = mode == "prefill", mode == "diffusion"

    def pick(decode: str, prefill: str, diffusion: str) -> np.ndarray:
        return np.where(is_prefill, np.asarray(result[prefill], dtype=object),
                        np.where(is_diffusion, np.asarray(result[diffusion], dtype=object),
                                 np.asarray(result[decode], dtype=object)))

    return {
        "mode": mode,
        "tokens_per_s": pick("decode_tok_s", "prefill_tok_s", "diffusion_tok_s"),
        "bound": pick("decode_bound", "prefill_bound", "diffusion_bound"),
        "pass_s": pick("decode_pass_s", "prefill_s", "diffusion_s"),
        "error_band": np.where(is_prefill, np.asarray(result["error_band_prefill"], dtype=object),
                               np.asarray(result["error_band"], dtype=object)),
    }


def _tpf_sensitivity(result: Result, n: int) -> list[list[dict[str, float | None]]]:
    """Per row, diffusion tokens/s at multiples of its tokens per forward ([] for autoregressive rows)."""
    if "diffusion_tokens_per_forward" not in result:
        return [[] for _ in range(n)]
    columns = sorted((float(name.rsplit("_x", 1)[1]), name) for name in result
                     if name.startswith(_SWEEP))
    columns = sorted(columns + [(1.0, "diffusion_tok_s")])
    tpf = json_values(result["diffusion_tokens_per_forward"].tolist())
    speeds = {name: json_values(result[name].tolist()) for _, name in columns}
    return [[] if tpf[i] is None else
            [{"tokens_per_forward": round(tpf[i] * k, 4), "tokens_per_s": speeds[name][i]} for k, name in columns]
            for i in range(n)]


def _plain(values: Any) -> list[Any]:
    """`json_values(values.tolist())`; a numeric array's list is already plain but for NaN/inf
    (a table's page: checked as an array; a few rows: numpy's calls would cost more than the loop)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "biuf" and len(values) > 8:
        out = values.tolist()
        if values.dtype.kind == "f":
            for index in np.flatnonzero(~np.isfinite(values)).tolist():
                out[index] = None
        return out
    return json_values(values.tolist())


def result_records(result: Result, *, modes: list[str | None], inline: dict[str, list[bool]]) -> list[dict[str, Any]]:
    """The core's output frame (or its columns) as the API's result objects (one per row), NaN/inf -> None.

    Columns are cleaned once each (not value by value per row), then zipped into rows.
    """
    n = len(result["verdict"])
    picked = _mode_columns(result, modes)
    column = {name: _plain(result[name]) if name in result else [None] * n for _, _, name, _ in _SPEC}
    for _, _, name, convert in _SPEC:
        if convert is not None:
            column[name] = convert(column[name])
    picked_clean = {name: json_values(values) for name, values in picked.items()}
    sensitivity = _tpf_sensitivity(result, n)
    identity = {
        part: (json_values(result[f"{prefix}_slug"].tolist()), json_values(result[f"{prefix}_name"].tolist()))
        for part, prefix in (("model", "model"), ("quantization", "quant"), ("device", "device"))
    }
    runtime = json_values(result["runtime"].tolist())
    # Each section's fields in _SPEC order, its rows zipped once: a row is then one dict(zip()).
    sections: dict[str, tuple[list[str], Any]] = {}
    for section in ("", "workload", "memory", "speed", "cost", "working"):
        names = [api_name for part, api_name, _, _ in _SPEC if part == section]
        values = [column[name] for part, _, name, _ in _SPEC if part == section]
        if section == "working":
            names += ["pass_s", "tokens_per_forward_sensitivity"]
            values += [picked_clean["pass_s"], sensitivity]
        sections[section] = (names, list(zip(*values)) if n else [])
    top_names, top_rows = sections.pop("")
    records = []
    for i in range(n):
        verdict = column["verdict"][i]
        record: dict[str, Any] = {
            part: {"slug": slugs[i] or None, "name": names[i], "inline": inline[part][i]}
            for part, (slugs, names) in identity.items()
        }
        record["runtime"] = runtime[i]
        record["mode"] = picked_clean["mode"][i]
        record["fits"] = None if verdict == "unknown" else verdict == "fits"
        record["tokens_per_s"] = picked_clean["tokens_per_s"][i]
        record["bound"] = picked_clean["bound"][i]
        record["error_band"] = picked_clean["error_band"][i]
        record.update(zip(top_names, top_rows[i]))
        for section, (names, rows) in sections.items():
            record[section] = dict(zip(names, rows[i]))
        records.append(record)
    return records


def flat_record(record: dict[str, Any]) -> dict[str, Any]:
    """A result object as one CSV row: nested fields as `section.field`, lists of names comma-joined.

    A list of objects (a sensitivity sweep) or an object two levels down is one cell of JSON text.
    """
    row: dict[str, Any] = {}
    for key, value in record.items():
        for name, cell in (value.items() if isinstance(value, dict) else [(None, value)]):
            if isinstance(cell, list) and all(isinstance(item, str) for item in cell):
                cell = ",".join(cell)
            elif isinstance(cell, (list, dict)):
                cell = json.dumps(cell, allow_nan=False)
            row[key if name is None else f"{key}.{name}"] = cell
    return row
