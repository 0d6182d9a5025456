"""Device and quantization columns in SI units: bandwidth, usable memory, peak FLOP/s per dtype.

The compute dtype of a pass is the quantization's (`schema.COMPUTE_DTYPES`) where the device
publishes a peak for it; otherwise the kernels dequantise and compute in the next dtype of
`PEAK_FALLBACK` (FP8/FP4 weights on a GPU without FP8/FP4 tensor cores run FP16/BF16 GEMMs).
`shader_fp16_tflops` (TechPowerUp's non-tensor FP16 rate, an extra catalog column) is the last
resort. When nothing is published the peak is NaN and every compute-bound figure is NaN: the
output says "unknown", it never guesses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from estimator.core.architecture import Coded, col, coded, map_combinations
from estimator.core.units import GB, GIB, TERA

# Order in which peaks are tried for each compute dtype (first published one wins).
PEAK_FALLBACK: dict[str, tuple[str, ...]] = {
    "fp4": ("fp4_tflops", "fp16_tflops", "bf16_tflops", "fp32_tflops", "shader_fp16_tflops"),
    "fp8": ("fp8_tflops", "fp16_tflops", "bf16_tflops", "fp32_tflops", "shader_fp16_tflops"),
    "int8": ("int8_tops", "fp16_tflops", "bf16_tflops", "fp32_tflops", "shader_fp16_tflops"),
    "fp16": ("fp16_tflops", "bf16_tflops", "fp32_tflops", "shader_fp16_tflops"),
    "bf16": ("bf16_tflops", "fp16_tflops", "fp32_tflops", "shader_fp16_tflops"),
    "fp32": ("fp32_tflops",),
}


@dataclass
class DeviceArrays:
    kind: Coded                      # schema.DEVICE_KINDS
    bandwidth: np.ndarray            # bytes/s
    memory: np.ndarray               # bytes (NaN when the part has configurable memory)
    usable_memory: np.ndarray        # bytes a model may use (Apple: the GPU's share)
    tdp_w: np.ndarray
    interconnect: np.ndarray         # device-to-device bytes/s per direction (NaN: none stated)
    host_link: np.ndarray            # host link (PCIe) bytes/s (NaN: none stated)


def device_arrays(frame: pd.DataFrame) -> DeviceArrays:
    """Device columns of a scenarios frame, in SI units."""
    memory = col(frame, "memory_gb") * GIB
    fraction = col(frame, "usable_memory_fraction")
    fraction = np.where(np.isnan(fraction), 1.0, fraction)
    return DeviceArrays(
        kind=coded(frame, "kind"),
        bandwidth=col(frame, "memory_bandwidth_gbs") * GB,
        memory=memory,
        usable_memory=memory * fraction,
        tdp_w=col(frame, "tdp_w"),
        interconnect=col(frame, "interconnect_gbs") * GB,
        host_link=col(frame, "host_bandwidth_gbs") * GB,
    )


# llama.cpp's CUDA backend runs F16 GEMMs with FP16 accumulation (cuBLAS COMPUTE_16F). GeForce
# parts do that at twice the FP32-accumulate rate the catalog stores (data README "Dense peaks
# only"); datacenter and workstation parts run both at the same rate. Which runtimes do so:
FP16_ACCUMULATE_RUNTIMES = ("llama-cpp",)
# ... and which devices double: NVIDIA consumer parts, by name.
FP16_ACCUMULATE_DOUBLES = ("GeForce",)
# GGUF kernels (llama.cpp) dequantise to FP16 or use int8 dot products: no FP8/FP4 tensor-core
# math for GGUF files, whatever the format's own compute dtype.
GGUF_RUNTIMES = ("llama-cpp",)

PEAK_COLUMNS = ("fp4_tflops", "fp8_tflops", "int8_tops", "fp16_tflops", "bf16_tflops", "fp32_tflops", "shader_fp16_tflops")


def peak_flops(frame: pd.DataFrame, compute_dtype: Coded) -> tuple[np.ndarray, Coded]:
    """Peak FLOP/s for each row's compute dtype, and the catalog column it came from ('' if none)."""
    n = len(frame)
    peak = np.full(n, np.nan)
    source = np.full(n, len(PEAK_COLUMNS), dtype=np.intp)
    peaks = {name: col(frame, name) * TERA for name in PEAK_COLUMNS}
    for dtype, chain in PEAK_FALLBACK.items():
        rows = compute_dtype.eq(dtype)
        if not rows.any():
            continue
        for name in chain:
            take = rows & np.isnan(peak) & (peaks[name] > 0)
            peak[take] = peaks[name][take]
            source[take] = PEAK_COLUMNS.index(name)
    return peak, Coded(source, np.array(list(PEAK_COLUMNS) + [""], dtype=object))


@dataclass
class Peaks:
    flops: np.ndarray            # FLOP/s of each row's compute dtype, as its runtime reaches it
    source: Coded                # the catalog column it came from ('' if none)
    is_fallback: np.ndarray      # the compute dtype's own peak is not published: a slower one stands in


def runtime_peaks(frame: pd.DataFrame, compute_dtype: Coded, base_runtime: Coded) -> Peaks:
    """Peak FLOP/s per row for its compute dtype on its runtime (`peak_flops` plus the runtime's kernels).

    GGUF kernels compute FP8/FP4/INT8 formats in FP16 (GGUF_RUNTIMES); llama.cpp's FP16
    accumulation doubles a GeForce part's FP16 rate (FP16_ACCUMULATE_*).
    """
    is_gguf = base_runtime.isin(GGUF_RUNTIMES)
    if is_gguf.any():
        low = compute_dtype.isin(("fp4", "fp8", "int8")) & is_gguf
        compute_dtype = Coded(np.where(low, len(compute_dtype.uniques), compute_dtype.codes),
                              np.append(compute_dtype.uniques, "fp16"))
    peak, source = peak_flops(frame, compute_dtype)
    fp16_acc = base_runtime.isin(FP16_ACCUMULATE_RUNTIMES) & compute_dtype.map(
        lambda u: [d == "fp16" for d in u], dtype=bool) & source.eq("fp16_tflops")
    if fp16_acc.any():
        doubles = coded(frame, "device_name").map(
            lambda u: [any(tag in name for tag in FP16_ACCUMULATE_DOUBLES) for name in u], dtype=bool)
        peak = np.where(fp16_acc & doubles, 2.0 * peak, peak)
    is_fallback = map_combinations([compute_dtype, source], lambda ds, ps: [
        bool(p) and p != PEAK_FALLBACK[d][0] for d, p in zip(ds, ps)], dtype=bool)
    return Peaks(flops=peak, source=source, is_fallback=is_fallback)


@dataclass
class QuantArrays:
    bytes_per_weight: np.ndarray
    compute_dtype: Coded
    family: Coded


def quant_arrays(frame: pd.DataFrame) -> QuantArrays:
    """Quantization columns: effective bytes per weight (scales included), compute dtype, family."""
    dtype = coded(frame, "compute_dtype")
    # An unknown compute dtype computes like the common case: FP16 after dequantisation.
    dtype = Coded(dtype.codes, np.array([d if d in PEAK_FALLBACK else "fp16" for d in dtype.uniques], dtype=object))
    return QuantArrays(
        bytes_per_weight=col(frame, "bits_per_weight") / 8.0,
        compute_dtype=dtype,
        family=coded(frame, "quant_family"),
    )
