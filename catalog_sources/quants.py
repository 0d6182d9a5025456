"""quant_formats.csv: effective bits per weight, the dtype kernels compute in, where it runs natively."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from catalog_sources.reading import read, require_columns, slugify
from estimator.core.quality import quality_tier
from estimator.core.schema import QUANT_COLUMNS

_QUANT_FAMILIES = (
    ("gguf", "gguf"), ("gptq", "gptq"), ("awq", "awq"), ("fp8", "fp8"), ("fp4 (nvidia)", "nvfp4"),
    ("fp4 (ocp mx)", "mxfp4"), ("bitsandbytes", "bitsandbytes"),
)

# Which device kinds run a family natively (from the `hardware_support_note` texts: GGUF runs in
# llama.cpp on GPUs, Apple silicon and CPUs; GPTQ/AWQ/FP8/FP4 kernels are GPU kernels; NVFP4
# needs Blackwell tensor cores, which the estimator checks through the device's FP4 peak).
_NATIVE_KINDS = {
    "gguf": ["gpu", "apple", "cpu"],
    "gptq": ["gpu"],
    "awq": ["gpu"],
    "fp8": ["gpu", "tpu", "npu"],
    "nvfp4": ["gpu"],
    "mxfp4": ["gpu", "apple", "cpu"],
    "bitsandbytes": ["gpu"],
    "full": ["gpu", "apple", "tpu", "cpu", "npu"],
}


def _compute_dtype(name: str, family: str, text: str) -> str:
    """The dtype the format's kernels compute in where the hardware supports it natively."""
    upper = name.upper()
    if upper.startswith("F32"):
        return "fp32"
    if upper.startswith("BF16"):
        return "bf16"
    if upper.startswith("F16") or upper.startswith("FP16"):
        return "fp16"
    if family in ("nvfp4", "mxfp4") or "MXFP4" in upper:
        return "fp4"
    if family == "fp8":
        return "fp8"
    if "int8" in name.lower():
        return "int8"
    if "bfloat16" in text.lower():
        return "bf16"
    # K-quants, legacy and i-quants, GPTQ and AWQ dequantise to FP16 for the matmul.
    return "fp16"


_PPL = re.compile(r"([+-]\d+(?:\.\d+)?)\s*ppl")


def load_quants(data_dir: Path | str) -> pd.DataFrame:
    """quant_formats.csv plus the two safetensors full-precision formats (by definition 16 bpw)."""
    records = []
    for row in read(data_dir, "quant_formats.csv"):
        name = row["name"].strip()
        raw_family = row["family"].strip().lower()
        family = next((f for key, f in _QUANT_FAMILIES if raw_family.startswith(key)), raw_family)
        bits = row.num("bits_per_weight")
        derived = []
        if bits is None and row.num("block_bpw_nominal") is not None:
            # Rule: a mix without a measured file average falls back to its block format's bits.
            bits = row.num("block_bpw_nominal")
            derived.append("bits_per_weight")
        match = _PPL.search(row["quality_note"])
        ppl_delta = float(match.group(1)) if match else None
        records.append({
            "name": name,
            "slug": slugify(name),
            "family": family,
            "bits_per_weight": bits,
            "bpw_basis": row["bpw_basis"].strip() + (" (block format's nominal bits: no file average published)" if derived else ""),
            "compute_dtype": _compute_dtype(name, family, row["compute_dtype"]),
            "compute_note": row["compute_dtype"].strip(),
            "ppl_delta": ppl_delta,
            "quality_note": row["quality_note"].strip(),
            "quality_tier": quality_tier(ppl_delta, bits),
            "native_device_kinds": _NATIVE_KINDS.get(family, []),
            "hardware_support_note": row["hardware_support_note"].strip(),
            "source": row["source"].strip(),
            "notes": row["notes"].strip(),
            "derived_fields": derived,
        })
    for name, dtype in (("BF16 (safetensors)", "bf16"), ("FP16 (safetensors)", "fp16")):
        records.append({
            "name": name, "slug": slugify(name), "family": "full", "bits_per_weight": 16.0,
            "bpw_basis": "format definition (2 bytes per weight)", "compute_dtype": dtype,
            "compute_note": f"native {dtype.upper()} matmul", "ppl_delta": None, "quality_note": "reference precision",
            "quality_tier": "reference", "native_device_kinds": _NATIVE_KINDS["full"],
            "hardware_support_note": "unquantized checkpoints run in every runtime",
            "source": "format definition: IEEE/bfloat16 store 2 bytes per weight", "notes": "", "derived_fields": [],
        })
    return require_columns(pd.DataFrame.from_records(records), QUANT_COLUMNS, "quant_formats.csv")
