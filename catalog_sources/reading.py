"""Reading the sourced CSVs: exact columns, no duplicated key, every bad cell named by file, row and column."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

def slugify(text: str) -> str:
    """ASCII slug, the same rule as django.utils.text.slugify for the names in the data."""
    text = text.replace("+", " plus ").replace("≤", " le ")
    text = re.sub(r"[^\w\s.-]", "", text.lower()).replace(".", "-")
    text = re.sub(r"[-\s_]+", "-", text).strip("-")
    return text[:80]


class SourceError(ValueError):
    """A source CSV that cannot be read as stated, named by file, row (the CSV line) and column."""

    def __init__(self, file: str, row: int, column: str, reason: str) -> None:
        self.file, self.row, self.column, self.reason = file, row, column, reason
        super().__init__(f"{file}, row {row}, column {column!r}: {reason}")


# The columns each source file must have, exactly, and the columns that identify one of its rows:
# a second row with the same key would silently replace the first.
SCHEMAS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "models.csv": (("name", "hf_repo", "generation", "total_params_b", "active_params_b", "layers", "hidden_size",
                    "intermediate_size", "moe_intermediate_size", "n_heads", "n_kv_heads", "head_dim", "n_experts",
                    "n_experts_active", "n_shared_experts", "vocab_size", "max_context", "sliding_window",
                    "attention_pattern", "block_size", "license", "source", "notes", "tied_embeddings",
                    "tied_embeddings_source"), ("name",)),
    "quant_formats.csv": (("name", "family", "bits_per_weight", "bpw_basis", "block_bpw_nominal", "compute_dtype",
                           "hardware_support_note", "quality_note", "source", "notes"), ("name",)),
    "devices.csv": (("name", "vendor", "kind", "memory_gb", "memory_bandwidth_gbs", "fp32_tflops", "fp16_tflops_dense",
                     "bf16_tflops_dense", "fp8_tflops_dense", "int8_tops_dense", "fp4_tflops_dense", "tdp_w", "launch_year",
                     "launch_price_usd", "interconnect", "source", "notes"), ("name",)),
    "device_specs_techpowerup.csv": (("device", "vendor", "memory_gb", "memory_bandwidth_gbs", "fp32_tflops", "fp16_tflops",
                                      "fp16_kind", "gpu_cores_or_sms", "tdp_w", "source", "note"), ("device",)),
    "device_tensor_fill.csv": (("name", "field", "value", "source"), ("name", "field")),
    "device_tensor_peaks.csv": (("name", "fp16_tflops_dense", "bf16_tflops_dense", "accumulate", "fp16acc_tflops_dense",
                                 "basis", "stated_as", "source"), ("name",)),
    "device_compute_units.csv": (("name", "compute_units", "unit", "boost_clock_mhz", "rule", "source"), ("name",)),
    "apple_silicon.csv": (("name", "chip", "gpu_cores", "memory_options_gb", "memory_bandwidth_gbs", "source"), ("name",)),
    "cloud_offers.csv": (("provider", "device", "gpu_count", "usd_per_hour", "tier", "region_or_note", "as_of", "source"),
                         ("provider", "device", "gpu_count", "tier", "region_or_note")),
    "api_prices.csv": (("provider", "model", "tier", "usd_per_1m_input", "usd_per_1m_output", "as_of", "source"),
                       ("provider", "model")),
    "device_aliases.csv": (("alias", "name", "source"), ("alias",)),
    "offer_device_links.csv": (("pattern", "name", "source"), ("pattern",)),
    "api_model_links.csv": (("pattern", "name", "weights", "source"), ("pattern",)),
    "model_layouts.csv": (("name", "field", "value", "source"), ("name", "field")),
    "model_extra_facts.csv": (("name", "field", "value", "source"), ("name", "field")),
    "model_families.csv": (("prefix", "family", "source"), ("prefix",)),
    "runtimes.csv": (("slug", "name", "homepage", "notes", "source"), ("slug",)),
}


class Row(dict):
    """One CSV row that knows where it came from, so a bad cell is reported with its place."""

    file: str = ""
    line: int = 0

    def error(self, column: str, reason: str) -> SourceError:
        return SourceError(self.file, self.line, column, reason)

    def num(self, column: str) -> float | None:
        """The cell as a finite number; empty = unknown (None). Text or Infinity/NaN is an error."""
        text = self[column].strip()
        if not text:
            return None
        try:
            number = float(text)
        except ValueError:
            raise self.error(column, f"{text!r} is not a number (write the bare number in the column's unit)") from None
        if not math.isfinite(number):
            raise self.error(column, f"{text!r} is not a finite number")
        return number

    def int(self, column: str) -> int | None:
        number = self.num(column)
        return None if number is None else int(round(number))

    def flag(self, column: str) -> bool | None:
        """The cell as true/false; empty = not stated (None). Anything else is an error."""
        text = self[column].strip().lower()
        if not text:
            return None
        if text not in ("true", "false"):
            raise self.error(column, f"{self[column].strip()!r} is not true or false")
        return text == "true"


def read(data_dir: Path | str, name: str) -> list[Row]:
    """The rows of a source CSV, checked against its schema: exact columns, no duplicated key."""
    path = Path(data_dir) / name
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise SourceError(name, 0, "", f"the file is missing from {Path(data_dir)}") from None
    except pd.errors.ParserError as exc:
        raise SourceError(name, 0, "", f"not a well-formed CSV ({exc})") from None
    columns, key = SCHEMAS[name]
    header = list(frame.columns)
    for column in columns:
        if column not in header:
            raise SourceError(name, 1, column, "the column is missing from the header")
    for column in header:
        if column not in columns:
            raise SourceError(name, 1, column, f"unexpected column (expected: {', '.join(columns)})")
    rows, first_line = [], {}
    for index, record in enumerate(frame.to_dict("records")):
        row = Row(record)
        row.file, row.line = name, index + 2  # line 1 is the header
        identity = tuple(row[column].strip() for column in key)
        if identity in first_line:
            raise row.error(key[0], f"duplicates row {first_line[identity]} ({', '.join(identity)}): one row per {', '.join(key)}")
        first_line[identity] = row.line
        # Keep provenance even for a row whose source cell is empty: it came from this file.
        if "source" in row and not row["source"].strip():
            row["source"] = f"{name} (the row states no source)"
        rows.append(row)
    return rows


def link_rules(data_dir: Path | str, file: str) -> list[tuple[Row, str, str]]:
    """(row, pattern, name) of a name table whose patterns are regular expressions, in file order."""
    rules = []
    for row in read(data_dir, file):
        try:
            re.compile(row["pattern"])
        except re.error as exc:
            raise row.error("pattern", f"not a regular expression ({exc})") from None
        rules.append((row, row["pattern"], row["name"].strip()))
    return rules


def require_columns(frame: pd.DataFrame, columns: Iterable[str], file: str) -> pd.DataFrame:
    """The frame a reader built, refused when it lacks a column the estimator's schema needs."""
    missing = sorted(set(columns) - set(frame.columns))
    if missing:
        raise SourceError(file, 0, missing[0], "the reader produced no such column, which the estimator's schema needs")
    return frame
