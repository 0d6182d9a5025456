"""devices.csv merged with the TechPowerUp rows, tensor peaks and Apple silicon options: one record per part."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from catalog_sources.reading import read, require_columns, slugify
from estimator.core.schema import DEVICE_COLUMNS

# Dense-peak fields of device_tensor_fill.csv and the catalog column each fills (FP16/BF16 peaks
# come from device_tensor_peaks.csv). Sparse figures are not what PyTorch/cuBLAS GEMMs reach.
_TENSOR_FILL = {
    "fp8_tensor_tflops_dense": "fp8_tflops",
    "fp8_tensor_tflops_dense_derived": "fp8_tflops",
    "int8_tensor_tops_dense": "int8_tops",
    "int8_tops": "int8_tops",
    "int8_matrix_tops_dense_derived": "int8_tops",
    "int8_tensor_tops_dense_gpu_derived": "int8_tops",
    "fp4_tensor_tflops_dense": "fp4_tflops",
    "fp4_tensor_tflops_dense_derived": "fp4_tflops",
    # A chip with no stated FP32 figure, scaled by GPU cores from a chip of the same GPU generation
    # (the rule and the figure it starts from are quoted in the row).
    "fp32_tflops_derived": "fp32_tflops",
}

def _device_aliases(data_dir: Path | str) -> dict[str, str]:
    """Names in the other device files that are a devices.csv part under another spelling."""
    return {row["alias"].strip(): row["name"].strip() for row in read(data_dir, "device_aliases.csv")}


# The share of memory a model may use. Apple: macOS lets the GPU wire about 75% of unified memory
# by default (recommendedMaxWorkingSetSize); APUs with unified memory likewise. Discrete devices
# use all of it, the runtime's own overhead being counted separately by the estimator.
_USABLE_FRACTION = {"apple": 0.75}
_UNIFIED = re.compile(r"unified memory|APU|iGPU|Spark|Jetson", re.IGNORECASE)

_PCIE = re.compile(r"PCIe\s*(\d)\.0\s*x(\d+)", re.IGNORECASE)
_LINK = re.compile(r"(\d+(?:\.\d+)?)\s*(TB/s|GB/s|GBps)", re.IGNORECASE)
# Per-direction PCIe bandwidth of an x16 link by generation, GB/s (PCI-SIG: 8/16/32 GT/s per lane).
_PCIE_X16_GBS = {3: 15.75, 4: 31.5, 5: 63.0, 6: 121.0}


def _links(interconnect: str) -> tuple[float | None, float | None]:
    """(device link GB/s, host PCIe GB/s) stated in an interconnect text, else None."""
    host = None
    match = _PCIE.search(interconnect)
    if match and int(match.group(1)) in _PCIE_X16_GBS:
        host = _PCIE_X16_GBS[int(match.group(1))] * int(match.group(2)) / 16
    link = None
    # A CPU<->GPU link (NVLink-C2C) is not a device-to-device link for tensor parallelism.
    if re.search(r"NVLink|Infinity Fabric|ICI|xGMI", interconnect, re.IGNORECASE) and "C2C" not in interconnect:
        match = _LINK.search(interconnect)
        if match:
            value = float(match.group(1)) * (1000 if match.group(2).upper() == "TB/S" else 1)
            # "bidirectional" figures are two directions summed.
            text = interconnect.lower()
            link = value / 2 if "bidirectional" in text and "per direction" not in text else value
    return link, host


def _device_record(name: str, vendor: str, kind: str, source: str, notes: str) -> dict:
    record = {column: None for column in DEVICE_COLUMNS}
    record.update({"name": name, "slug": slugify(name), "vendor": vendor, "kind": kind,
                   "source": source, "notes": notes, "interconnect": "", "launch_year": None,
                   "launch_price_usd": None, "shader_fp16_tflops": None, "derived_fields": [],
                   "memory_options_gb": [], "gpu_cores": None, "chip_name": None, "fp16_peak_basis": "",
                   "compute_units": None, "boost_clock_mhz": None})
    return record


# How each GPU's dense FP16/BF16 matrix peak is known (device_tensor_peaks.csv `basis`). A GPU with
# none of these has no stated peak: the estimator then falls back to another figure and says so.
PEAK_BASES = ("stated", "derived", "no_matrix_units")


def _apply_tensor_peaks(data_dir: Path | str, by_name: dict[str, dict]) -> None:
    """Set every listed GPU's dense FP16/BF16 peak with FP32 accumulate, the rate inference GEMMs use.

    GeForce cards state two tensor rates, FP16-accumulate and (half of it) FP32-accumulate; cuBLAS,
    PyTorch and llama.cpp's CUDA GEMMs accumulate FP16/BF16 inputs in FP32, so the catalog keeps the
    FP32-accumulate figure (the file records the other where stated). A `derived` row is the rule
    units x boost clock x FLOP per clock, anchored on a vendor-stated figure of the same
    architecture (quoted in the row); `no_matrix_units` is the shader FP16 rate of a part without
    matrix units, which is all an FP16 GEMM can reach there.
    """
    aliases = _device_aliases(data_dir)
    for row in read(data_dir, "device_tensor_peaks.csv"):
        name = aliases.get(row["name"].strip(), row["name"].strip())
        record = by_name.get(name)
        if record is None:
            continue
        basis = row["basis"].strip()
        fp16, bf16 = row.num("fp16_tflops_dense"), row.num("bf16_tflops_dense")
        record["fp16_tflops"] = fp16
        record["bf16_tflops"] = bf16
        record["fp16_peak_basis"] = basis
        fields = ["fp16_tflops"] + (["bf16_tflops"] if bf16 is not None else [])
        if basis == "derived":
            record["derived_fields"].extend(fields)
        record["source"] += f"; {', '.join(fields)}: {row['stated_as'].strip()} — {row['source'].strip()}"


def _apply_compute_units(data_dir: Path | str, by_name: dict[str, dict]) -> None:
    """Compute units (NVIDIA SMs, AMD CUs, Intel Xe cores) and boost clock of each listed GPU.

    Their product is the rate at which the GPU issues work, unit-cycles per second: a batch-1
    matrix-vector kernel spends instructions on every byte it loads (dequantise, dot product), so
    the bytes/s it reaches are bounded by that rate as well as by the memory (docs/estimator.md
    "Issue-rate ceiling"). A unit count the source gives as shading units is divided by the lanes
    per unit, the rule quoted in the row.
    """
    aliases = _device_aliases(data_dir)
    for row in read(data_dir, "device_compute_units.csv"):
        record = by_name.get(aliases.get(row["name"].strip(), row["name"].strip()))
        if record is None:
            continue
        record["compute_units"] = row.int("compute_units")
        record["boost_clock_mhz"] = row.num("boost_clock_mhz")
        rule = row["rule"].strip()
        if "=" in rule:   # a unit count derived from shading units
            record["derived_fields"].append("compute_units")
        record["source"] += (f"; compute units ({row['unit'].strip()}: {rule}) and boost clock: "
                             f"{row['source'].strip()}")


def _options(text: str) -> list[float]:
    return [float(part) for part in text.split("/") if part.strip()]


def _apply_apple_silicon(data_dir: Path | str, by_name: dict[str, dict]) -> None:
    """Memory options of each Apple chip, and the GPU-core variants linked to their chip.

    A variant inherits what Apple states per chip (memory options, bandwidth) unless Apple states
    its own (M3/M4 Max bins differ), takes the largest option as its memory, and derives its FP32
    peak from the chip's: same GPU clock, so FP32 scales with cores (chip FP32 x cores / chip cores).
    """
    rows = read(data_dir, "apple_silicon.csv")
    chips = {row["name"].strip(): row for row in rows if not row["chip"].strip()}
    for row in rows:
        record = by_name.get(row["name"].strip())
        if record is None:
            continue
        chip_name = row["chip"].strip()
        chip = by_name.get(chip_name) if chip_name else None
        record["gpu_cores"] = row.int("gpu_cores")
        record["chip_name"] = chip_name or None
        options = _options(row["memory_options_gb"])
        derived = []
        if not options and chip_name in chips:
            options = _options(chips[chip_name]["memory_options_gb"])
            derived.append("memory_options_gb")
        record["memory_options_gb"] = options
        if options and record["memory_gb"] is None:
            record["memory_gb"] = max(options)
            derived.append("memory_gb")
        bandwidth = row.num("memory_bandwidth_gbs")
        if bandwidth is not None:
            record["memory_bandwidth_gbs"] = bandwidth
        elif record["memory_bandwidth_gbs"] is None and chip is not None:
            record["memory_bandwidth_gbs"] = chip["memory_bandwidth_gbs"]
            derived.append("memory_bandwidth_gbs")
        chip_cores = chips[chip_name].int("gpu_cores") if chip_name in chips else None
        if chip is not None and record["gpu_cores"] and chip_cores and chip["fp32_tflops"] is not None and record["fp32_tflops"] is None:
            record["fp32_tflops"] = round(chip["fp32_tflops"] * record["gpu_cores"] / chip_cores, 2)
            derived.append("fp32_tflops")
        record["derived_fields"].extend(derived)
        record["source"] += f"; memory options and GPU cores: {row['source'].strip()}"
        if derived:
            record["source"] += f" (inherited from {chip_name}: {', '.join(derived)}; FP32 scaled by GPU cores)"


def load_devices(data_dir: Path | str) -> pd.DataFrame:
    """devices.csv, then the TechPowerUp rows for parts devices.csv lacks, then tensor peaks."""
    by_name: dict[str, dict] = {}
    for row in read(data_dir, "devices.csv"):
        record = _device_record(row["name"].strip(), row["vendor"].strip(), row["kind"].strip(),
                                row["source"].strip(), row["notes"].strip())
        record.update({
            "memory_gb": row.num("memory_gb"),
            "memory_bandwidth_gbs": row.num("memory_bandwidth_gbs"),
            "fp32_tflops": row.num("fp32_tflops"),
            "fp16_tflops": row.num("fp16_tflops_dense"),
            "bf16_tflops": row.num("bf16_tflops_dense"),
            "fp8_tflops": row.num("fp8_tflops_dense"),
            "int8_tops": row.num("int8_tops_dense"),
            "fp4_tflops": row.num("fp4_tflops_dense"),
            "tdp_w": row.num("tdp_w"),
            "launch_year": row.int("launch_year"),
            "launch_price_usd": row.num("launch_price_usd"),
            "interconnect": row["interconnect"].strip(),
        })
        by_name[record["name"]] = record
    aliases = _device_aliases(data_dir)
    for row in read(data_dir, "device_specs_techpowerup.csv"):
        name = aliases.get(row["device"].strip(), row["device"].strip())
        shader = row.num("fp16_tflops")
        if name in by_name:
            record = by_name[name]
            filled = []
            for field, column in (("memory_gb", "memory_gb"), ("memory_bandwidth_gbs", "memory_bandwidth_gbs"), ("tdp_w", "tdp_w"),
                                  ("fp32_tflops", "fp32_tflops")):
                if record[field] is None and row.num(column) is not None:
                    record[field] = row.num(column)
                    filled.append(field)
            record["shader_fp16_tflops"] = shader
            record["source"] += "; " + row["source"].strip() + (f" ({', '.join(filled + ['shader_fp16_tflops'])})")
            continue
        kind = "apple" if row["vendor"].strip() == "Apple" else "gpu"
        record = _device_record(name, row["vendor"].strip(), kind, row["source"].strip(), row["note"].strip())
        record.update({
            "memory_gb": row.num("memory_gb"),
            "memory_bandwidth_gbs": row.num("memory_bandwidth_gbs"),
            "tdp_w": row.num("tdp_w"),
            "fp32_tflops": row.num("fp32_tflops"),
            "shader_fp16_tflops": shader,
        })
        if row["gpu_cores_or_sms"].strip():
            record["notes"] = (record["notes"] + "; " if record["notes"] else "") + row["gpu_cores_or_sms"].strip()
        by_name[name] = record
    for row in read(data_dir, "device_tensor_fill.csv"):
        name = aliases.get(row["name"].strip(), row["name"].strip())
        column = _TENSOR_FILL.get(row["field"].strip())
        value = row.num("value")
        if name not in by_name or column is None or value is None:
            continue
        record = by_name[name]
        if record[column] is not None:
            continue
        record[column] = value
        if row["field"].endswith("_derived"):
            record["derived_fields"].append(column)
        record["source"] += f"; {column}: {row['source'].strip()}"
    _apply_tensor_peaks(data_dir, by_name)
    _apply_apple_silicon(data_dir, by_name)
    _apply_compute_units(data_dir, by_name)
    for record in by_name.values():
        link, host = _links(record["interconnect"])
        if link is not None:
            record["interconnect_gbs"] = link
            record["derived_fields"].append("interconnect_gbs")
        if host is not None:
            record["host_bandwidth_gbs"] = host
            record["derived_fields"].append("host_bandwidth_gbs")
        unified = record["kind"] == "apple" or bool(
            _UNIFIED.search(" ".join((record["name"], record["interconnect"], record["notes"]))))
        record["usable_memory_fraction"] = 0.75 if unified else 1.0
        record["derived_fields"].append("usable_memory_fraction")
    return require_columns(pd.DataFrame.from_records(list(by_name.values())), DEVICE_COLUMNS, "devices.csv")
