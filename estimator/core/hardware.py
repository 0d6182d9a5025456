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
from estimator.core.passes import WeightBytes
from estimator.core.units import GB, GIB, TERA

# Order in which peaks are tried for each compute dtype (first published one wins).
PEAK_FALLBACK: dict[str, tuple[str, ...]] = {
    "fp4": ("fp4_tflops", "fp16_tflops", "bf16_tflops", "fp32_tflops", "shader_fp16_tflops"),
    "fp8": ("fp8_tflops", "fp4_tflops/2", "fp16_tflops", "bf16_tflops", "fp32_tflops", "shader_fp16_tflops"),
    "int8": ("int8_tops", "fp4_tflops/2", "fp16_tflops", "bf16_tflops", "fp32_tflops", "shader_fp16_tflops"),
    "fp16": ("fp16_tflops", "bf16_tflops", "fp4_tflops/4", "fp32_tflops", "shader_fp16_tflops"),
    "bf16": ("bf16_tflops", "fp16_tflops", "fp4_tflops/4", "fp32_tflops", "shader_fp16_tflops"),
    "fp32": ("fp32_tflops",),
}
# Tensor rates derived from a published FP4 figure where a part states only that (NVIDIA's DGX
# Spark: "1 PFLOP FP4" with sparsity, 500 dense): every FP4 tensor core so far (Blackwell, CDNA4)
# runs FP8/INT8 at 1/2 and FP16/BF16 at 1/4 of its FP4 rate (docs/estimator.md "Peaks"). A
# derived tensor rate is the work's own kind of peak, not a fallback to a vector ALU.
DERIVED_PEAKS = {"fp4_tflops/2": ("fp4_tflops", 0.5), "fp4_tflops/4": ("fp4_tflops", 0.25)}


@dataclass
class DeviceArrays:
    kind: Coded                      # schema.DEVICE_KINDS
    bandwidth: np.ndarray            # bytes/s
    memory: np.ndarray               # bytes (NaN when the part has configurable memory)
    usable_memory: np.ndarray        # bytes a model may use (Apple: the GPU's share)
    tdp_w: np.ndarray
    interconnect: np.ndarray         # device-to-device bytes/s per direction (NaN: none stated)
    host_link: np.ndarray            # host link (PCIe) bytes/s (NaN: none stated)
    issue_rate: np.ndarray           # compute units x boost clock, unit-cycles/s (NaN: unknown)


def device_arrays(frame: pd.DataFrame) -> DeviceArrays:
    """Device columns of a scenarios frame, in SI units.

    A scenario's `device_memory_gb` (a configurable part: the Apple chip a user owns) replaces the
    catalog's `memory_gb`, which is NaN or one option for such parts.
    """
    memory = col(frame, "memory_gb")
    if "device_memory_gb" in frame:
        chosen = col(frame, "device_memory_gb")
        memory = np.where(np.isnan(chosen), memory, chosen)
    memory = memory * GIB
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
        issue_rate=col(frame, "compute_units") * col(frame, "boost_clock_mhz") * 1e6,
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

PEAK_COLUMNS = ("fp4_tflops", "fp8_tflops", "int8_tops", "fp16_tflops", "bf16_tflops", "fp32_tflops", "shader_fp16_tflops",
                "fp4_tflops/2", "fp4_tflops/4")


def peak_flops(frame: pd.DataFrame, compute_dtype: Coded) -> tuple[np.ndarray, Coded]:
    """Peak FLOP/s for each row's compute dtype, and the catalog column it came from ('' if none)."""
    n = len(frame)
    peak = np.full(n, np.nan)
    source = np.full(n, len(PEAK_COLUMNS), dtype=np.intp)
    peaks = {name: col(frame, name) * TERA for name in PEAK_COLUMNS if name not in DERIVED_PEAKS}
    peaks.update({name: col(frame, base) * factor * TERA for name, (base, factor) in DERIVED_PEAKS.items()})
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
    vector: np.ndarray | None = None        # FLOP/s of the vector ALUs (matrix-vector passes, dequantisation)
    vector_source: Coded | None = None      # the column it came from ('' = unknown)
    gemm_class: Coded | None = None         # the weight-format class on its GEMM path ("kquant-int8")
    attention: np.ndarray | None = None     # FLOP/s of attention's GEMMs: the FP16 path, never int8 MMQ


def runtime_peaks(frame: pd.DataFrame, compute_dtype: Coded, base_runtime: Coded,
                  dequant_class: Coded | None = None, kind: Coded | None = None) -> Peaks:
    """Peak FLOP/s per row for its compute dtype on its runtime (`peak_flops` plus the runtime's kernels).

    GGUF kernels compute FP8/FP4/INT8 formats in FP16 (GGUF_RUNTIMES); llama.cpp's FP16
    accumulation doubles a GeForce part's FP16 rate (FP16_ACCUMULATE_*); with the weight format's
    class and the device kind, quantised llama.cpp GEMMs on a GPU take the int8 path
    (`int8_gemm_path`), and the vector ALUs' peak comes along (`vector_peak`).
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
    # Matrix-vector passes and dequantisation run on the vector ALUs (`vector_peak`).
    vector, vector_source = vector_peak(frame, peak, source)
    # Attention (KQ, KQV over the FP16 K/V cache, cuBLAS or flash-attention mma) stays on the
    # FP16 path whatever GEMM path the weights take; where FP16 is a slow path (Pascal: 1/64 rate)
    # the kernels compute in FP32 (llama.cpp's `fast_fp16_available`), so the faster of the two.
    attention = np.fmax(peak, col(frame, "fp32_tflops") * TERA)
    gemm_class = dequant_class
    if dequant_class is not None and kind is not None:
        # Quantised llama.cpp GEMMs on a GPU run as int8 (MMQ): that peak, and per-path class tables.
        int8_path = int8_gemm_path(frame, base_runtime, dequant_class, kind)
        peak, source = gemm_peak(frame, peak, source, int8_path)
        gemm_class = path_class(dequant_class, int8_path)
    own = ("int8_tops", DP4A_SOURCE, *DERIVED_PEAKS)
    is_fallback = map_combinations([compute_dtype, source], lambda ds, ps: [
        bool(p) and p != PEAK_FALLBACK[d][0] and p not in own for d, p in zip(ds, ps)], dtype=bool)
    return Peaks(flops=peak, source=source, is_fallback=is_fallback, vector=vector, vector_source=vector_source,
                 gemm_class=gemm_class, attention=attention)


# llama.cpp's MXFP4_MOE file type writes the routed-expert tensors (3-D: ne[2] > 1) in MXFP4 and
# every other tensor (attention, embeddings, output head, router) in Q8_0, 34 bytes per 32 weights
# (`llama_tensor_get_type` in src/llama-quant.cpp: "MoE tensors -> MXFP4, other tensors -> Q8_0").
# Check on gpt-oss-20b, 19.11 B expert + 1.80 B other weights: 19.11e9 x 4.25/8 + 1.80e9 x 8.5/8
# = 12.07e9 B = 11.24 GiB, against the 11.27 GiB llama-bench prints (llama.cpp benches/dgx-spark.md).
# At the nominal 4.25 bits everywhere a gpt-oss decode would read about a third too few bytes.
NON_EXPERT_BITS = {"MXFP4 (GGUF)": 8.5}


@dataclass
class QuantArrays:
    bytes_per_weight: np.ndarray           # the format's nominal width (its routed experts')
    non_expert_bytes_per_weight: np.ndarray  # everything else: the same width unless NON_EXPERT_BITS says
    compute_dtype: Coded
    family: Coded

    @property
    def weight_bytes(self) -> WeightBytes:
        return WeightBytes(self.bytes_per_weight, self.non_expert_bytes_per_weight)


def quant_arrays(frame: pd.DataFrame) -> QuantArrays:
    """Quantization columns: effective bytes per weight (scales included), compute dtype, family."""
    dtype = coded(frame, "compute_dtype")
    # An unknown compute dtype computes like the common case: FP16 after dequantisation.
    dtype = Coded(dtype.codes, np.array([d if d in PEAK_FALLBACK else "fp16" for d in dtype.uniques], dtype=object))
    nominal = col(frame, "bits_per_weight") / 8.0
    names = coded(frame, "quant_name")
    other_bits = np.array([NON_EXPERT_BITS.get(name, np.nan) for name in names.uniques], dtype=np.float64)
    other = other_bits[names.codes] / 8.0
    return QuantArrays(
        bytes_per_weight=nominal,
        non_expert_bytes_per_weight=np.where(np.isnan(other), nominal, other),
        compute_dtype=dtype,
        family=coded(frame, "quant_family"),
    )


# --- GEMM paths: the peak that a prefill's weight GEMMs actually run on -------------------------
# llama.cpp's CUDA/HIP backend multiplies quantised weights with its MMQ kernels whenever the
# format has one (every legacy, K-, i- and MXFP4 type): the activations are quantised to q8_1 and
# the products run in int8 — on int8 tensor cores (mma) from Turing on, with __dp4a on Pascal
# (`ggml_cuda_should_use_mmq` in ggml-cuda/mmq.cu; docs/estimator.md "GEMM paths"). So a quantised
# prefill runs at the device's published int8 rate (tensor int8 on Turing+, dp4a on a P40), not at
# its FP16 rate; F16/BF16 weights go through cuBLAS/hipBLAS GEMMs at the FP16 tensor rate
# (FP16_ACCUMULATE_*). Apple's Metal backend dequantises blocks to half in threadgroup memory and
# multiplies with simdgroup matrices: the FP16 rate, which on Apple GPUs is the FP32 rate.
# A weight format's GEMM factor and dequantisation work are fitted per path: a class label gets
# INT8_PATH_SUFFIX on the int8 path ("kquant-int8"), so Apple's numbers never stand in for CUDA's.
INT8_GEMM_RUNTIMES = ("llama-cpp",)
INT8_GEMM_CLASSES = ("legacy", "kquant", "iquant", "fp4")
INT8_PATH_SUFFIX = "-int8"


# MMQ is the CUDA/HIP backend's (NVIDIA, AMD); Intel GPUs run llama.cpp's SYCL or Vulkan backends.
INT8_GEMM_VENDORS = ("nvidia", "amd")
# AMD RDNA parts publish no int8 figure: MMQ's v_dot4_i32_i8 does 4 int8 MACs per lane per clock
# where packed FP16 does 2, so the dp4a rate is derived as 2 x the (non-tensor) shader FP16 rate.
DP4A_PER_SHADER_FP16 = 2.0
DP4A_SOURCE = "shader_fp16_tflops x2 (dp4a)"


def int8_rate(frame: pd.DataFrame) -> np.ndarray:
    """Published int8 TOPS (or half a published FP4 rate, DERIVED_PEAKS), else (AMD) the dp4a rate
    derived from the shader FP16 rate; NaN if none."""
    int8 = col(frame, "int8_tops")
    int8 = np.where(int8 > 0, int8, 0.5 * col(frame, "fp4_tflops"))
    vendor = coded(frame, "vendor").map(lambda u: [str(v).strip().lower() for v in u])
    derived = np.where(vendor == "amd", DP4A_PER_SHADER_FP16 * col(frame, "shader_fp16_tflops"), np.nan)
    return np.where(int8 > 0, int8, derived)


def int8_gemm_path(frame: pd.DataFrame, base_runtime: Coded, dequant_class: Coded, kind: Coded) -> np.ndarray:
    """Rows whose weight GEMMs run as int8 (llama.cpp MMQ on an NVIDIA/AMD GPU with an int8 rate)."""
    vendor = coded(frame, "vendor").map(lambda u: [str(v).strip().lower() for v in u])
    return (base_runtime.isin(INT8_GEMM_RUNTIMES) & dequant_class.isin(INT8_GEMM_CLASSES) & kind.eq("gpu")
            & np.isin(vendor, INT8_GEMM_VENDORS) & (int8_rate(frame) > 0))


def base_class(label: str) -> str:
    """'kquant-int8' -> 'kquant': the weight format's class whatever its GEMM path."""
    return label[: -len(INT8_PATH_SUFFIX)] if label.endswith(INT8_PATH_SUFFIX) else label


def path_class(dequant_class: Coded, int8_path: np.ndarray) -> Coded:
    """`dequant_class` with INT8_PATH_SUFFIX on the rows that run the int8 path."""
    if not int8_path.any():
        return dequant_class
    labels = list(dequant_class.uniques)
    codes = dequant_class.codes.copy()
    for i, label in enumerate(dequant_class.uniques):
        rows = int8_path & (dequant_class.codes == i)
        if rows.any():
            suffixed = f"{label}{INT8_PATH_SUFFIX}"
            if suffixed not in labels:
                labels.append(suffixed)
            codes[rows] = labels.index(suffixed)
    return Coded(codes, np.array(labels, dtype=object))


def gemm_peak(frame: pd.DataFrame, peak: np.ndarray, source: Coded, int8_path: np.ndarray) -> tuple[np.ndarray, Coded]:
    """(peak FLOP/s, catalog column) with the int8 rate on the int8-path rows."""
    if not int8_path.any():
        return peak, source
    published = col(frame, "int8_tops") > 0
    int8 = int8_rate(frame) * TERA
    names = list(source.uniques)
    from_fp4 = ~published & (col(frame, "fp4_tflops") > 0)
    for name in ("int8_tops", DP4A_SOURCE, "fp4_tflops/2"):
        if name not in names:
            names.append(name)
    label = np.where(published, names.index("int8_tops"),
                     np.where(from_fp4, names.index("fp4_tflops/2"), names.index(DP4A_SOURCE)))
    codes = np.where(int8_path, label, source.codes)
    return np.where(int8_path, int8, peak), Coded(codes, np.array(names, dtype=object))


# --- The vector ALUs: where matrix-vector passes and dequantisation run ----------------------------
# A pass with a few tokens per weight (batch-1 decode) is a matrix-vector product: it runs on the
# vector ALUs, not the tensor cores. Their rate is the FP32 figure; where it is not published the
# non-tensor FP16 figure stands in (equal to FP32 on NVIDIA Ampere and later, 2x on AMD/Intel: an
# upper bound, flagged), and last the compute dtype's own peak (flagged). When none is published the
# compute term is unknown: the speed is then the memory-bound figure, an upper bound, with a wider
# error band (docs/estimator.md "Unknown is not zero") — never a compute time of 0.
VECTOR_PEAK_CHAIN = ("fp32_tflops", "shader_fp16_tflops")


def vector_peak(frame: pd.DataFrame, tensor_peak: np.ndarray, tensor_source: Coded) -> tuple[np.ndarray, Coded]:
    """(FLOP/s of the vector ALUs, the column it came from: '' when unknown)."""
    n = len(frame)
    peak = np.full(n, np.nan)
    names = list(VECTOR_PEAK_CHAIN) + [f"{u} (compute dtype)" for u in tensor_source.uniques] + [""]
    source = np.full(n, len(names) - 1, dtype=np.intp)
    for i, name in enumerate(VECTOR_PEAK_CHAIN):
        value = col(frame, name) * TERA
        take = np.isnan(peak) & (value > 0)
        peak[take] = value[take]
        source[take] = i
    take = np.isnan(peak) & (tensor_peak > 0)
    peak[take] = tensor_peak[take]
    source[take] = len(VECTOR_PEAK_CHAIN) + tensor_source.codes[take]
    labels = np.array(names, dtype=object)
    labels[len(VECTOR_PEAK_CHAIN):-1] = [f"{u} (compute dtype)" if u else "" for u in tensor_source.uniques]
    return peak, Coded(source, labels)
