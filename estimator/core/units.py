"""Unit conversions between catalog units and the SI units the core computes in.

Everything inside the core is bytes, FLOP, seconds, watts and dollars. The catalog stores the
units people read on datasheets; these constants are the only place the two meet.
"""

from __future__ import annotations

BILLION = 1e9
GB = 1e9            # bandwidths (GB/s) and model sizes are decimal, as vendors and papers quote them
# Memory *capacities* of DRAM/HBM parts are powers of two: a "24 GB" RTX 4090 and an "80 GB" A100
# hold 24 GiB and 80 GiB (nvidia-smi: 24564 MiB, 81920 MiB). Reading them as 1e9 would under-state
# every device by 7%, so device memory_gb is converted with GIB.
GIB = 2.0**30
TERA = 1e12
HOUR_S = 3600.0

# Bytes per element of the KV cache by cache dtype. q8_0 / q4_0 are llama.cpp block formats:
# 32 values share one fp16 scale (34 and 18 bytes per block).
KV_DTYPE_BYTES: dict[str, float] = {
    "fp32": 4.0,
    "fp16": 2.0,
    "bf16": 2.0,
    "fp8": 1.0,
    "q8_0": 34.0 / 32.0,
    "q4_0": 18.0 / 32.0,
}

# Activations, the hidden state exchanged by tensor-parallel all-reduces and soft embeddings are
# fp16/bf16 in every runtime we model.
ACT_BYTES = 2.0
# Logits are materialised in fp32 by every sampler we model (docs/diffusion.md §2.2).
LOGIT_BYTES = 4.0
