"""A GGUF file's header -> its architecture and the exact bytes of its weights, per tensor group.

Only the header is read: metadata and the tensor infos (name, type, shape, offset). Tensor data is
never touched. The `gguf` package's reader memory-maps the file and parses the header through the
map, so a file of hundreds of GB costs the pages of its header, not its size; the data views it
would build for every tensor are skipped here (`_HeaderReader`), and the file's length is checked
against the last tensor's end instead, so a truncated download is refused by name.

The bytes per tensor are GGML's block sizes (`gguf.GGML_QUANT_SIZES`: elements per block, bytes
per block), so `bytes = elements / block_elements * block_bytes` is what the file stores.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFReader
from gguf.gguf_reader import ReaderField

from models_catalog.sources import slugify

BILLION = 1e9
# The tensor groups memory is reported in, matched on llama.cpp's tensor names in this order.
GROUPS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("embedding", re.compile(r"^(token_embd|per_layer_token_embd)\.")),
    ("lm_head", re.compile(r"^output\.")),
    ("experts", re.compile(r"_exps\.")),
    ("shared_experts", re.compile(r"_shexp\.")),
    ("router", re.compile(r"ffn_gate_inp\.|exp_probs_b")),
    ("norms", re.compile(r"norm")),
    ("attention", re.compile(r"\.attn_")),
    ("ffn", re.compile(r"\.ffn_")),
)
# llama.cpp architecture names -> the catalog's family and diffusion family.
_FAMILY = {
    "llama": "Llama", "mistral3": "Mistral", "qwen2": "Qwen", "qwen2moe": "Qwen", "qwen3": "Qwen", "qwen3moe": "Qwen",
    "gemma2": "Gemma", "gemma3": "Gemma", "gemma4": "Gemma", "deepseek2": "DeepSeek", "gpt-oss": "gpt-oss",
    "phi3": "Phi", "llada": "LLaDA", "dream": "Dream", "llada-moe": "LLaDA",
}
_FULL_ATTENTION_DIFFUSION = ("llada", "dream", "llada-moe")


class GGUFImportError(ValueError):
    """A file that is not a readable GGUF, said in words."""


@dataclass
class TensorInfo:
    name: str
    type: str
    shape: tuple[int, ...]
    elements: int
    bytes: int
    offset: int


@dataclass
class GroupBytes:
    params: int = 0
    bytes: int = 0
    types: Counter = field(default_factory=Counter)

    @property
    def bits_per_weight(self) -> float | None:
        return self.bytes * 8 / self.params if self.params else None

    def as_dict(self) -> dict[str, Any]:
        return {"params": self.params, "bytes": self.bytes, "bits_per_weight": self.bits_per_weight,
                "types": dict(sorted(self.types.items()))}


class _HeaderReader(GGUFReader):
    """GGUFReader that records tensor infos without building a data view per tensor.

    GGUFReader reshapes a memmap slice per tensor, which fails with a bare numpy error on a
    truncated file; the infos are all this importer needs (gguf 0.19's `_build_tensors` hook).
    """

    def _build_tensors(self, start_offs: int, fields: list[ReaderField]) -> None:
        self.tensor_infos: list[TensorInfo] = []
        seen: set[str] = set()
        for info in fields:
            _name_len, name_data, _n_dims, dims, raw_dtype, offset = info.parts
            name = bytes(name_data).decode("utf-8")
            if name in seen:
                raise GGUFImportError(f"the tensor '{name}' appears twice")
            seen.add(name)
            try:
                ggml_type = GGMLQuantizationType(int(raw_dtype[0]))
            except ValueError:
                raise GGUFImportError(f"the tensor '{name}' has an unknown GGML type {int(raw_dtype[0])}") from None
            block_elements, block_bytes = GGML_QUANT_SIZES[ggml_type]
            elements = int(np.prod(dims.astype(object))) if len(dims) else 1
            if elements % block_elements:
                raise GGUFImportError(f"the tensor '{name}' has {elements} elements, not a whole number of "
                                      f"{ggml_type.name} blocks of {block_elements}")
            self.tensor_infos.append(TensorInfo(
                name=name, type=ggml_type.name, shape=tuple(int(d) for d in dims), elements=elements,
                bytes=elements // block_elements * block_bytes, offset=start_offs + int(offset[0]),
            ))


def _value(reader: GGUFReader, key: str) -> Any:
    item = reader.fields.get(key)
    if item is None:
        return None
    value = item.contents()
    return value


def _scalar(reader: GGUFReader, key: str) -> int | float | None:
    """A numeric metadata value; per-layer arrays (e.g. head_count_kv) give their most common value."""
    value = _value(reader, key)
    if isinstance(value, list):
        numbers = [v for v in value if isinstance(v, (int, float)) and v > 0]
        return Counter(numbers).most_common(1)[0][0] if numbers else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def gguf_read(path: str | os.PathLike[str], *, header_only: bool = False) -> dict[str, Any]:
    """Header of a GGUF file: architecture record, per-group exact bytes, effective bits per weight.

    `header_only` accepts a file cut after its header (an upload of `head -c 32M model.gguf`): the
    tensor infos still give every byte count; otherwise a file shorter than its tensors is refused.
    Returns {"architecture": ModelArchitecture-shaped dict, "quantization": an inline quantization
    format whose bits_per_weight is the file's own, "groups": {group: params/bytes/bpw/types},
    "tensor_bytes", "file_bytes", "tensors"}. Raises GGUFImportError.
    """
    path = Path(path)
    try:
        file_bytes = path.stat().st_size
    except OSError as exc:
        raise GGUFImportError(f"{path}: {exc.strerror or exc}") from exc
    if file_bytes < 24:
        raise GGUFImportError(f"{path.name} is {file_bytes} bytes: too short to be a GGUF file")
    try:
        reader = _HeaderReader(path, "r")
    except GGUFImportError as exc:
        raise GGUFImportError(f"{path.name}: {exc}") from None
    except (ValueError, IndexError, KeyError, OverflowError, UnicodeDecodeError, MemoryError) as exc:
        reason = "it does not start with the GGUF magic" if "magic" in str(exc) else \
            f"its header is cut short or malformed ({exc})"
        raise GGUFImportError(f"{path.name} is not a readable GGUF file: {reason}") from None
    infos = reader.tensor_infos
    if not infos:
        raise GGUFImportError(f"{path.name} lists no tensors")
    end = max(info.offset + info.bytes for info in infos)
    if end > file_bytes and not header_only:
        last = max(infos, key=lambda info: info.offset + info.bytes)
        raise GGUFImportError(f"{path.name} is truncated: the tensor '{last.name}' ends at byte {end:,} but the file "
                              f"has {file_bytes:,} bytes")
    groups: dict[str, GroupBytes] = {}
    for info in infos:
        group = next((name for name, pattern in GROUPS if pattern.search(info.name)), "other")
        bucket = groups.setdefault(group, GroupBytes())
        bucket.params += info.elements
        bucket.bytes += info.bytes
        bucket.types[info.type] += 1
    architecture = _architecture(reader, infos, groups, path)
    total_params = sum(g.params for g in groups.values())
    tensor_bytes = sum(g.bytes for g in groups.values())
    file_type = _file_type(reader)
    quantization = {
        "name": f"{path.name} ({file_type})" if file_type else path.name,
        "family": "gguf",
        "bits_per_weight": tensor_bytes * 8 / total_params,
        "compute_dtype": "fp32" if file_type == "F32" else "bf16" if file_type == "BF16" else "fp16",
        "native_device_kinds": ["gpu", "apple", "cpu"],
    }
    return {
        "architecture": architecture,
        "quantization": quantization,
        "groups": {name: groups[name].as_dict() for name in sorted(groups)},
        "tensor_bytes": tensor_bytes,
        "file_bytes": file_bytes,
        "complete": end <= file_bytes,
        "tensor_count": len(infos),
        "file_type": file_type,
    }


def _int(value: int | float | None) -> int | None:
    return int(value) if value else None


def _file_type(reader: GGUFReader) -> str:
    value = _scalar(reader, "general.file_type")
    if value is None:
        return ""
    try:
        from gguf import LlamaFileType
        return LlamaFileType(int(value)).name.removeprefix("MOSTLY_")
    except ValueError:
        return str(value)


def _architecture(reader: GGUFReader, infos: list[TensorInfo], groups: dict[str, GroupBytes],
                  path: Path) -> dict[str, Any]:
    arch = _value(reader, "general.architecture")
    if not isinstance(arch, str) or not arch:
        raise GGUFImportError(f"{path.name} has no 'general.architecture' in its metadata")

    def meta(key: str) -> int | float | None:
        return _scalar(reader, f"{arch}.{key}")

    n_layers = meta("block_count")
    hidden = meta("embedding_length")
    n_heads = meta("attention.head_count")
    for key, value in (("block_count", n_layers), ("embedding_length", hidden), ("attention.head_count", n_heads)):
        if not value:
            raise GGUFImportError(f"{path.name} has no '{arch}.{key}' in its metadata")
    by_name = {info.name: info for info in infos}
    embedding = by_name.get("token_embd.weight")
    vocab = meta("vocab_size") or (embedding.shape[1] if embedding and len(embedding.shape) > 1 else None)
    n_experts = meta("expert_count")
    top_k = meta("expert_used_count")
    moe = bool(n_experts and top_k and n_experts > top_k)
    total = sum(g.params for g in groups.values())
    experts = groups.get("experts", GroupBytes()).params
    # Every routed-expert tensor holds all E experts; k of them run per token.
    active = total - experts * (1 - top_k / n_experts) if moe else total
    tied = "output.weight" not in by_name
    embedding_params = groups.get("embedding", GroupBytes()).params + groups.get("lm_head", GroupBytes()).params
    window = meta("attention.sliding_window")
    name = _value(reader, "general.name")
    label = name if isinstance(name, str) and name.strip() else path.stem
    key_length = meta("attention.key_length")
    mla = meta("attention.kv_lora_rank")
    n_dense = meta("leading_dense_block_count")
    diffusion = arch in _FULL_ATTENTION_DIFFUSION
    return {
        "name": label[:120],
        "slug": slugify(label),
        "family": _FAMILY.get(arch, arch),
        "org": "",
        "hf_repo": "",
        "generation_mode": "block_diffusion" if diffusion else "autoregressive",
        "diffusion_attention": "full" if diffusion else "",
        "total_params_b": total / BILLION,
        "active_params_b": active / BILLION,
        "embedding_params_b": embedding_params / BILLION if embedding_params else None,
        "tied_embeddings": tied,
        "vision_params_b": None,
        "n_layers": int(n_layers),
        "hidden_size": int(hidden),
        "n_heads": int(n_heads),
        "n_kv_heads": int(meta("attention.head_count_kv") or n_heads),
        "head_dim": None if mla else int(key_length or hidden // n_heads),
        "intermediate_size": int(meta("feed_forward_length")) if meta("feed_forward_length") else None,
        "moe_intermediate_size": _int(meta("expert_feed_forward_length") or meta("feed_forward_length")) if moe else None,
        "n_experts": int(n_experts) if moe else None,
        "n_experts_active": int(top_k) if moe else None,
        "n_shared_experts": int(meta("expert_shared_count")) if moe and meta("expert_shared_count") else None,
        "n_dense_layers": int(n_dense) if moe and n_dense else None,
        "vocab_size": int(vocab) if vocab else None,
        "max_context": int(meta("context_length")) if meta("context_length") else None,
        "sliding_window": int(window) if window else None,
        "n_global_layers": None,
        "global_kv_heads": None,
        "global_head_dim": None,
        "global_kv_shared": False,
        "kv_lora_rank": int(mla) if mla else None,
        "qk_rope_head_dim": int(meta("rope.dimension_count")) if mla and meta("rope.dimension_count") else None,
        "attention_pattern": "",
        "block_size": None,
        "tokens_per_forward": None,
        "self_conditioning": False,
        "source": f"GGUF header of {path.name}: parameters are its tensors' element counts",
        "notes": "",
        "derived_fields": ["active_params_b"] if moe else [],
    }
