"""Small GGUF files written with the `gguf` package for the importer's tests."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFWriter

Q = GGMLQuantizationType


def _raw(shape: tuple[int, ...], qtype: GGMLQuantizationType) -> np.ndarray:
    """Bytes of a tensor stored as `qtype` (shape in numpy order, rows last), filled with a pattern."""
    block_elements, block_bytes = GGML_QUANT_SIZES[qtype]
    if qtype == Q.F32:
        return np.full(shape, 0.5, dtype=np.float32)
    if qtype == Q.F16:
        return np.full(shape, 0.5, dtype=np.float16)
    row_bytes = shape[-1] // block_elements * block_bytes
    return np.full((*shape[:-1], row_bytes), 7, dtype=np.uint8)


def write_tiny_llama(path: Path, *, hidden: int = 256, layers: int = 2, vocab: int = 512, ffn: int = 512,
                     experts: int = 0, top_k: int = 0, tied: bool = False) -> Path:
    """A Llama-style GGUF: F32 norms, F16 embedding, Q8_0 attention, Q4_K FFN, Q6_K output."""
    writer = GGUFWriter(path, "llama")
    writer.add_name("Tiny Llama")
    writer.add_block_count(layers)
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(ffn)
    writer.add_head_count(4)
    writer.add_head_count_kv(2)
    writer.add_context_length(4096)
    writer.add_vocab_size(vocab)
    writer.add_file_type(15)  # MOSTLY_Q4_K_M
    if experts:
        writer.add_expert_count(experts)
        writer.add_expert_used_count(top_k)
        writer.add_expert_feed_forward_length(ffn)
    kv = hidden // 2  # 2 KV heads of head_dim 64
    tensors: list[tuple[str, tuple[int, ...], GGMLQuantizationType]] = [("token_embd.weight", (vocab, hidden), Q.F16)]
    for i in range(layers):
        tensors += [
            (f"blk.{i}.attn_norm.weight", (hidden,), Q.F32),
            (f"blk.{i}.attn_q.weight", (hidden, hidden), Q.Q8_0),
            (f"blk.{i}.attn_k.weight", (kv, hidden), Q.Q8_0),
            (f"blk.{i}.attn_v.weight", (kv, hidden), Q.Q8_0),
            (f"blk.{i}.attn_output.weight", (hidden, hidden), Q.Q8_0),
            (f"blk.{i}.ffn_norm.weight", (hidden,), Q.F32),
        ]
        if experts:
            tensors += [
                (f"blk.{i}.ffn_gate_inp.weight", (experts, hidden), Q.F32),
                (f"blk.{i}.ffn_gate_exps.weight", (experts, ffn, hidden), Q.Q4_K),
                (f"blk.{i}.ffn_up_exps.weight", (experts, ffn, hidden), Q.Q4_K),
                (f"blk.{i}.ffn_down_exps.weight", (experts, hidden, ffn), Q.Q4_K),
            ]
        else:
            tensors += [
                (f"blk.{i}.ffn_gate.weight", (ffn, hidden), Q.Q4_K),
                (f"blk.{i}.ffn_up.weight", (ffn, hidden), Q.Q4_K),
                (f"blk.{i}.ffn_down.weight", (hidden, ffn), Q.Q4_K),
            ]
    tensors.append(("output_norm.weight", (hidden,), Q.F32))
    if not tied:
        tensors.append(("output.weight", (vocab, hidden), Q.Q6_K))
    for name, shape, qtype in tensors:
        # Quantized data goes in as bytes (rows of blocks); the writer derives the element shape.
        writer.add_tensor(name, _raw(shape, qtype), raw_dtype=None if qtype in (Q.F32, Q.F16) else qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_sparse_giant(path: Path, *, rows: int, hidden: int = 8192, layers: int = 4) -> tuple[Path, int]:
    """A GGUF whose header declares Q4_K tensors of several GB, the data a hole (a sparse file).

    Returns the path and the declared tensor bytes.
    """
    writer = GGUFWriter(path, "llama")
    writer.add_block_count(layers)
    writer.add_embedding_length(hidden)
    writer.add_head_count(64)
    writer.add_feed_forward_length(rows)
    total = 0
    for i in range(layers):
        for part in ("gate", "up"):
            byte_shape = (rows, hidden // 256 * 144)  # Q4_K: 144 bytes per block of 256
            nbytes = rows * byte_shape[1]
            writer.add_tensor_info(f"blk.{i}.ffn_{part}.weight", byte_shape, np.dtype(np.uint8), nbytes,
                                   raw_dtype=Q.Q4_K)
            total += nbytes
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    writer.close()
    header = path.stat().st_size
    alignment = 32
    data_start = (header + alignment - 1) // alignment * alignment
    # Each tensor's data is aligned too; these sizes are multiples of 32, so they follow back to back.
    os.truncate(path, data_start + total)
    return path, total
