"""Read the sourced CSVs of `shared/data` into catalog records.

Pure Python + pandas, no Django: the catalog import command upserts these records, and the
estimator's accuracy report and benchmark use the same frames without a database.

Every record keeps its `source`. An empty cell stays missing (None/NaN), never 0. Where a field
is derived by a documented rule (e.g. the count of global-attention layers read from the
attention-pattern text), the field name is listed in the record's `derived_fields`, and the rule is
written next to the code that applies it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from estimator.core.quality import quality_tier
from estimator.core.schema import DEVICE_COLUMNS, MODEL_COLUMNS, QUANT_COLUMNS


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
    "apple_silicon.csv": (("name", "chip", "gpu_cores", "memory_options_gb", "memory_bandwidth_gbs", "source"), ("name",)),
    "cloud_offers.csv": (("provider", "device", "gpu_count", "usd_per_hour", "tier", "region_or_note", "as_of", "source"),
                         ("provider", "device", "gpu_count", "tier", "region_or_note")),
    "api_prices.csv": (("provider", "model", "usd_per_1m_input", "usd_per_1m_output", "as_of", "source"), ("provider", "model")),
    "device_aliases.csv": (("alias", "name", "source"), ("alias",)),
    "offer_device_links.csv": (("pattern", "name", "source"), ("pattern",)),
    "api_model_links.csv": (("pattern", "name", "source"), ("pattern",)),
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


def _read(data_dir: Path | str, name: str) -> list[Row]:
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
            row["source"] = f"shared/data/{name} (the row states no source)"
        rows.append(row)
    return rows


# --- Models ---------------------------------------------------------------------------------

# Full-attention masked-diffusion models (DIFFUSION.md 1.0, family A); every other diffusion row
# in the data is block-causal (SDAR, LLaDA2, DiffusionGemma: family B).
_FULL_ATTENTION_DIFFUSION = re.compile(r"^(LLaDA(?!2)|Dream|d3LLM)", re.IGNORECASE)

# Attention layouts read from each row's `attention_pattern` text (quoted in the comments), for
# the rows whose sliding/global split or per-layer KV shape the plain columns cannot hold.
_LAYOUTS: dict[str, dict[str, int]] = {
    # "62 layers = 10x[5L+1G] + 2L"
    "Gemma 3 27B": {"n_global_layers": 10},
    # "5 local sliding (1024) : 1 global ... 34 layers" -> layers 6,12,...,30 are global
    "Gemma 3 4B IT": {"n_global_layers": 5},
    # "alternating local sliding (4096) / global layers (21+21)"
    "Gemma 2 9B": {"n_global_layers": 21},
    # "(50 sliding + 10 full); ... global KV heads 4 @ head_dim 512"
    # "attention_k_eq_v=true" / "with k_eq_v": global layers cache K only (V = K).
    "Gemma 4 31B": {"n_global_layers": 10, "global_kv_heads": 4, "global_head_dim": 512, "global_kv_shared": True},
    # "25 sliding + 5 full ... global 2 KV @512"
    "Gemma 4 26B-A4B": {"n_global_layers": 5, "global_kv_heads": 2, "global_head_dim": 512, "global_kv_shared": True},
    "DiffusionGemma 26B-A4B-it": {"n_global_layers": 5, "global_kv_heads": 2, "global_head_dim": 512,
                                  "global_kv_shared": True},
    # "(12 sliding + 12 full)" / "(18 sliding + 18 full)"
    "gpt-oss-20b": {"n_global_layers": 12},
    "gpt-oss-120b": {"n_global_layers": 18},
    # "One third-party parser notes HF ignores sliding_window 2047 ... treat as full attention"
    "Phi-3 mini 4k instruct": {"n_global_layers": 32},
    # MLA: "kv_lora_rank 512, qk_nope_head_dim 128 + qk_rope_head_dim 64"; "first_k_dense_replace 3"
    "DeepSeek V3": {"kv_lora_rank": 512, "qk_rope_head_dim": 64, "n_dense_layers": 3},
    # "kv_lora_rank 512, qk_rope_head_dim 64"; "MoE with dense first layer"
    "GLM-4.7-Flash": {"kv_lora_rank": 512, "qk_rope_head_dim": 64, "n_dense_layers": 1},
    # "first layer dense (first_k_dense_replace 1)"
    "LLaDA2.0-mini": {"n_dense_layers": 1},
}

# Facts stated in shared/data/README.md or DIFFUSION.md rather than in models.csv columns.
_EXTRA_FACTS: dict[str, dict] = {
    # data README: "~550M vision encoder"; DIFFUSION.md 1.5: self-conditioning MLP in the decoder.
    "DiffusionGemma 26B-A4B-it": {"vision_params_b": 0.55, "self_conditioning": True, "tokens_per_forward": 15.0},
    # DIFFUSION.md 2.5: LLaDA2.0-mini block 32 (thr 0.95) 2.55; LLaDA2.0-flash average 3.08.
    "LLaDA2.0-mini": {"tokens_per_forward": 2.55},
    "LLaDA2.0-flash": {"tokens_per_forward": 3.08},
    # DIFFUSION.md 2.5: Fast-dLLM LLaDA GSM8K 256, threshold 0.9: 3.01 tokens/step with cache.
    "LLaDA 8B Instruct": {"tokens_per_forward": 3.01},
}
_EXTRA_FACTS_SOURCE = "shared/data/README.md (DiffusionGemma) and shared/DIFFUSION.md §1.5, §2.5"

_FAMILIES = (
    ("diffusiongemma", "Gemma"), ("codellama", "Llama"), ("tinyllama", "Llama"), ("meta-llama", "Llama"),
    ("llada", "LLaDA"),
    ("llama", "Llama"), ("qwen", "Qwen"), ("gemma", "Gemma"), ("mixtral", "Mistral"),
    ("mistral", "Mistral"), ("deepseek-r1-distill-qwen", "Qwen"), ("deepseek", "DeepSeek"),
    ("gpt-oss", "gpt-oss"), ("phi", "Phi"), ("dream", "Dream"), ("sdar", "SDAR"),
    ("d3llm", "d3LLM"), ("glm", "GLM"),
)


def model_family(name: str) -> str:
    key = slugify(name)
    for prefix, family in _FAMILIES:
        if key.startswith(prefix):
            return family
    return name.split()[0]


def load_models(data_dir: Path | str) -> pd.DataFrame:
    """models.csv as schema columns plus name/slug/family/org/hf_repo/license/source/notes."""
    records = []
    for row in _read(data_dir, "models.csv"):
        name = row["name"].strip()
        derived: list[str] = []
        diffusion = row["generation"].strip() == "diffusion"
        record: dict = {
            "name": name,
            "slug": slugify(name),
            "family": model_family(name),
            "org": row["hf_repo"].split("/")[0] if "/" in row["hf_repo"] else "",
            "hf_repo": row["hf_repo"].strip(),
            "license": row["license"].strip(),
            "generation_mode": "block_diffusion" if diffusion else "autoregressive",
            "diffusion_attention": "",
            "total_params_b": row.num("total_params_b"),
            "active_params_b": row.num("active_params_b"),
            "embedding_params_b": None,
            "tied_embeddings": row.flag("tied_embeddings"),
            "vision_params_b": None,
            "n_layers": row.int("layers"),
            "hidden_size": row.int("hidden_size"),
            "n_heads": row.int("n_heads"),
            "n_kv_heads": row.int("n_kv_heads"),
            "head_dim": row.int("head_dim"),
            "intermediate_size": row.int("intermediate_size"),
            "moe_intermediate_size": row.int("moe_intermediate_size"),
            "n_experts": row.int("n_experts"),
            "n_experts_active": row.int("n_experts_active"),
            "n_shared_experts": row.int("n_shared_experts"),
            "n_dense_layers": None,
            "vocab_size": row.int("vocab_size"),
            "max_context": row.int("max_context"),
            "sliding_window": row.int("sliding_window"),
            "n_global_layers": None,
            "global_kv_heads": None,
            "global_head_dim": None,
            "global_kv_shared": False,
            "kv_lora_rank": None,
            "qk_rope_head_dim": None,
            "block_size": row.int("block_size"),
            "tokens_per_forward": None,
            "self_conditioning": False,
            "attention_pattern": row["attention_pattern"].strip(),
            "source": row["source"].strip(),
            "notes": row["notes"].strip(),
        }
        if record["tied_embeddings"] is not None:
            if not row["tied_embeddings_source"].strip():
                raise row.error("tied_embeddings_source", "a stated tied_embeddings needs its source (the config.json read)")
            record["source"] += f"; tied_embeddings: {row['tied_embeddings_source'].strip()}"
        if diffusion:
            # Rule: LLaDA (v1, MoE), Dream and d3LLM are full-attention masked diffusion.
            record["diffusion_attention"] = "full" if _FULL_ATTENTION_DIFFUSION.match(name) else "block_causal"
            derived.append("diffusion_attention")
        if record["n_experts"] and record["active_params_b"] is None:
            record["active_params_b"] = record["total_params_b"]
        for field, value in _LAYOUTS.get(name, {}).items():
            record[field] = value
            derived.append(field)
        extra = _EXTRA_FACTS.get(name, {})
        for field, value in extra.items():
            record[field] = value
        if extra:
            record["source"] += f"; {_EXTRA_FACTS_SOURCE}"
        record["derived_fields"] = derived
        records.append(record)
    frame = pd.DataFrame.from_records(records)
    missing = set(MODEL_COLUMNS) - set(frame.columns)
    assert not missing, f"models frame lacks schema columns {missing}"
    return frame


# --- Quantization formats ---------------------------------------------------------------------

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
    for row in _read(data_dir, "quant_formats.csv"):
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
    frame = pd.DataFrame.from_records(records)
    missing = set(QUANT_COLUMNS) - set(frame.columns)
    assert not missing, f"quants frame lacks schema columns {missing}"
    return frame


# --- Devices ------------------------------------------------------------------------------------

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
}

def _device_aliases(data_dir: Path | str) -> dict[str, str]:
    """Names in the other device files that are a devices.csv part under another spelling."""
    return {row["alias"].strip(): row["name"].strip() for row in _read(data_dir, "device_aliases.csv")}


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
                   "memory_options_gb": [], "gpu_cores": None, "chip_name": None, "fp16_peak_basis": ""})
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
    for row in _read(data_dir, "device_tensor_peaks.csv"):
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


def _options(text: str) -> list[float]:
    return [float(part) for part in text.split("/") if part.strip()]


def _apply_apple_silicon(data_dir: Path | str, by_name: dict[str, dict]) -> None:
    """Memory options of each Apple chip, and the GPU-core variants linked to their chip.

    A variant inherits what Apple states per chip (memory options, bandwidth) unless Apple states
    its own (M3/M4 Max bins differ), takes the largest option as its memory, and derives its FP32
    peak from the chip's: same GPU clock, so FP32 scales with cores (chip FP32 x cores / chip cores).
    """
    rows = _read(data_dir, "apple_silicon.csv")
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
    for row in _read(data_dir, "devices.csv"):
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
    for row in _read(data_dir, "device_specs_techpowerup.csv"):
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
    for row in _read(data_dir, "device_tensor_fill.csv"):
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
    frame = pd.DataFrame.from_records(list(by_name.values()))
    missing = set(DEVICE_COLUMNS) - set(frame.columns)
    assert not missing, f"devices frame lacks schema columns {missing}"
    return frame


# --- Runtimes, cloud offers, API prices ---------------------------------------------------------

RUNTIMES: tuple[dict, ...] = (
    {"slug": "llama-cpp", "name": "llama.cpp", "homepage": "https://github.com/ggml-org/llama.cpp",
     "notes": "GGUF; CUDA, Metal, Vulkan, SYCL, CPU backends"},
    {"slug": "vllm", "name": "vLLM", "homepage": "https://github.com/vllm-project/vllm",
     "notes": "paged attention, CUDA graphs, tensor parallel"},
    {"slug": "sglang", "name": "SGLang", "homepage": "https://github.com/sgl-project/sglang",
     "notes": "radix cache, CUDA graphs, tensor parallel"},
    {"slug": "hf-transformers", "name": "HF transformers", "homepage": "https://github.com/huggingface/transformers",
     "notes": "eager PyTorch; tens of ms fixed cost per forward"},
    {"slug": "mlc-llm", "name": "MLC LLM", "homepage": "https://github.com/mlc-ai/mlc-llm",
     "notes": "TVM-compiled kernels; CUDA, ROCm, Metal, Vulkan"},
    {"slug": "exllama", "name": "ExLlama", "homepage": "https://github.com/turboderp-org/exllamav2",
     "notes": "GPTQ/EXL2 kernels for NVIDIA GPUs"},
    {"slug": "intel-neural-speed", "name": "Intel Neural Speed", "homepage": "https://github.com/intel/neural-speed",
     "notes": "Intel's LLM runtime (SYCL on Intel GPUs)"},
    {"slug": "reference", "name": "hwfit reference engine", "homepage": "",
     "notes": "the bundled PyTorch engine that calibration runs"},
)


def load_runtimes() -> pd.DataFrame:
    frame = pd.DataFrame.from_records(RUNTIMES)
    frame["source"] = "hwfit project definition (runtimes named in DESIGN.md and measured_runs_dev.csv)"
    return frame


def _match_device(text: str, rules: list[tuple[str, str]], devices: set[str]) -> str | None:
    """The catalog device an offer's free-text device names, when it names exactly one.

    The first rule (offer_device_links.csv, in order) whose pattern matches decides; an empty name
    means the label names several parts, or one the catalog lacks.
    """
    key = text.upper()
    for pattern, name in rules:
        if re.search(pattern, key):
            return name if name in devices else None
    return None


def _link_rules(data_dir: Path | str, file: str) -> list[tuple[str, str]]:
    rules = []
    for row in _read(data_dir, file):
        try:
            re.compile(row["pattern"])
        except re.error as exc:
            raise row.error("pattern", f"not a regular expression ({exc})") from None
        rules.append((row["pattern"], row["name"].strip()))
    return rules


def load_cloud_offers(data_dir: Path | str, device_names: Iterable[str] = ()) -> pd.DataFrame:
    """cloud_offers.csv; `device_name` is the catalog device the offer names, when one matches."""
    device_names = set(device_names)
    rules = _link_rules(data_dir, "offer_device_links.csv")
    records = []
    for row in _read(data_dir, "cloud_offers.csv"):
        records.append({
            "provider": row["provider"].strip(),
            "device_label": row["device"].strip(),
            "device_name": _match_device(row["device"].strip(), rules, device_names),
            "gpu_count": row.int("gpu_count") or 1,
            "usd_per_hour": row.num("usd_per_hour"),
            "tier": row["tier"].strip(),
            "region_or_note": row["region_or_note"].strip(),
            "as_of": row["as_of"].strip(),
            "source": row["source"].strip(),
        })
    return pd.DataFrame.from_records(records)


def load_api_prices(data_dir: Path | str, model_names: Iterable[str] = ()) -> pd.DataFrame:
    """api_prices.csv; `model_name` is the catalog model the price is for, when one matches."""
    names = set(model_names)
    rules = _link_rules(data_dir, "api_model_links.csv")
    records = []
    for row in _read(data_dir, "api_prices.csv"):
        label = row["model"].strip()
        model = next((name for pattern, name in rules if re.search(pattern, label, re.IGNORECASE)), None)
        records.append({
            "provider": row["provider"].strip(),
            "model_label": label,
            "model_name": model if model in names else None,
            "usd_per_1m_input": row.num("usd_per_1m_input"),
            "usd_per_1m_output": row.num("usd_per_1m_output"),
            "as_of": row["as_of"].strip(),
            "source": row["source"].strip(),
        })
    return pd.DataFrame.from_records(records)
