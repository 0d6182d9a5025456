"""Memory needed to run a model, broken down, and the verdict against a device's usable memory.

    total = weights (every expert resident, at the format's effective bits)
          + KV cache  (batch x layers x context x KV heads x head dim x cache dtype; sliding layers
                       hold at most their window; MLA holds a latent per token)
          + activations and MoE dispatch buffers of the largest pass
          + logits (fp32; a diffusion block's B x vocab) [+ DiffusionGemma's self-conditioning buffer]
          + vision encoder (fp16, when image input is used)
          + runtime overhead (CUDA context, workspace; per device kind, priors.json constants)

Verdicts, for the device count the scenario asks about (`asked`, default 1), checked in this
order (one documented table; `VERDICTS`):
  fits          the total fits in the asked devices' usable memory (tensor parallel when > 1);
  offload       (one discrete GPU, not unified memory; offload allowed, i.e. host RAM > 0) the
                layers that do not fit go to host RAM and fit there: runs, slower, with
                `layers_on_device` of n_layers. THE DEFAULT when a model does not fit one device,
                applied the same way to every device: offload if host RAM allows (docs/estimator.md
                "Verdicts");
  multi_device  else, when the scenario lets the count grow (`scale_out`: no device count was
                given), it fits tensor-parallel over n <= max_devices identical devices (n a power
                of 2): the answer then describes n devices, and says so (`devices_needed`);
  no_fit        none of the above: nothing runs on what was asked. `devices_needed` still says
                how many devices would hold it (a suggestion, not the answer's configuration);
  unknown       the device's memory is not published (a configurable part without `memory_gb`)
                or a shape is missing — unless a lower bound (the parts that are known, e.g. the
                weights alone) already exceeds the asked devices' memory: then no_fit;
  unsupported   (scenario_verdict) the weight format has no kernels for this kind of device.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimator.core.architecture import ModelArrays, kv_elements, nan_to_num
from estimator.core.passes import WeightBytes
from estimator.core.units import ACT_BYTES, LOGIT_BYTES

VERDICTS = ("fits", "offload", "multi_device", "no_fit", "unknown", "unsupported")
FITS, OFFLOAD, MULTI_DEVICE, NO_FIT, UNKNOWN, UNSUPPORTED = range(len(VERDICTS))
TP_SIZES = (1, 2, 4, 8)
# Device kinds whose host RAM is separate from device memory (llama.cpp -ngl offload works).
OFFLOAD_KINDS = ("gpu",)
MULTI_DEVICE_KINDS = ("gpu", "tpu", "npu")


@dataclass
class MemoryBreakdown:
    weights_embedding: np.ndarray
    weights_dense: np.ndarray
    weights_experts: np.ndarray
    vision: np.ndarray
    kv_cache: np.ndarray
    activations: np.ndarray
    logits: np.ndarray
    overhead: np.ndarray
    # Every parameter at the format's bits: the weights total even when a missing shape leaves
    # the split into groups (and so `weights`) unknown. The lower bound of the verdict uses it.
    weights_floor: np.ndarray | None = None

    @property
    def weights(self) -> np.ndarray:
        return self.weights_embedding + self.weights_dense + self.weights_experts

    @property
    def total(self) -> np.ndarray:
        return (self.weights + self.vision + self.kv_cache + self.activations + self.logits + self.overhead)

    def per_device(self, n: np.ndarray | float) -> np.ndarray:
        """Need per device under tensor parallelism over n: weights and KV split, the rest replicated."""
        return (self.weights + self.kv_cache) / n + self.vision + self.activations + self.logits + self.overhead


def weight_groups(m: ModelArrays, bytes_per_weight: np.ndarray | WeightBytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(embeddings, dense, routed experts) bytes. Tied embeddings count once."""
    width = WeightBytes.of(bytes_per_weight)
    embeddings = np.where(m.tied, m.lm_head, m.lm_head + m.input_embedding)
    experts = m.n_experts * m.expert_params
    dense = m.total - experts - embeddings
    return embeddings * width.other, dense * width.other, experts * width.experts


def memory_breakdown(
    m: ModelArrays,
    bytes_per_weight: np.ndarray | WeightBytes,
    kv_bytes_per_elem: np.ndarray,
    *,
    batch: np.ndarray,
    context: np.ndarray,
    pass_tokens: np.ndarray,
    logits_rows: np.ndarray,
    overhead: np.ndarray,
    image_input: np.ndarray | bool = False,
) -> MemoryBreakdown:
    """Bytes per component for `batch` sequences of `context` tokens.

    pass_tokens: tokens through the network in the largest pass (a prefill chunk, a decode batch,
    a diffusion batch x block); logits_rows: fp32 logit rows held at once (all sequences).
    """
    embedding, dense, experts = weight_groups(m, bytes_per_weight)
    kv = batch * kv_elements(m, context) * kv_bytes_per_elem
    # Activations of one pass: residual, norm, q/k/v/o (~4 x hidden) and the FFN's gate/up
    # (2 x width; a MoE token goes through k experts). MoE dispatch keeps a permuted copy of each
    # token per chosen expert, in and out (2 x k x hidden).
    dispatch = np.where(m.is_moe, 2.0 * m.top_k * m.hidden, 0.0)
    activations = pass_tokens * (4.0 * m.hidden + 2.0 * m.ffn_width + dispatch) * ACT_BYTES
    logits = logits_rows * m.vocab * LOGIT_BYTES
    # DiffusionGemma keeps softmax(previous logits) for self-conditioning: one more fp32 block.
    selfcond_rows = np.where(m.self_conditioning, batch * nan_to_num(m.block_size), 0.0)
    logits = logits + selfcond_rows * (m.vocab * LOGIT_BYTES + m.hidden * ACT_BYTES)
    vision = np.where(np.asarray(image_input, dtype=bool), m.vision_params * ACT_BYTES, 0.0)
    return MemoryBreakdown(
        weights_embedding=embedding, weights_dense=dense, weights_experts=experts, vision=vision,
        kv_cache=kv, activations=nan_to_num(activations), logits=nan_to_num(logits), overhead=overhead,
        weights_floor=_weights_floor(m, WeightBytes.of(bytes_per_weight)),
    )


def _weights_floor(m: ModelArrays, width: WeightBytes) -> np.ndarray:
    """All the weights at their widths, from the total alone (a lower bound when shapes are partial)."""
    experts = nan_to_num(m.n_experts * m.expert_params)
    return (m.total - experts) * width.other + experts * width.experts


@dataclass
class Verdict:
    code: np.ndarray               # index into VERDICTS
    devices_needed: np.ndarray     # smallest TP size that fits (NaN: none <= max)
    layers_on_device: np.ndarray   # for offload; n_layers when it fits
    device_fraction: np.ndarray    # layers_on_device / n_layers
    headroom: np.ndarray           # usable - total (bytes; negative = short)


def verdict(
    mem: MemoryBreakdown,
    m: ModelArrays,
    usable: np.ndarray,
    offload_possible: np.ndarray,
    multi_possible: np.ndarray,
    host_memory: np.ndarray,
    max_devices: int = 8,
    asked: np.ndarray | float = 1.0,
    scale_out: np.ndarray | bool = True,
) -> Verdict:
    """The verdict table of the module docstring, column-wise.

    offload_possible: the device has host RAM apart from its own (a discrete GPU, not unified
    memory); multi_possible: the kind is sold for multi-device setups (MULTI_DEVICE_KINDS);
    asked: the device count the scenario asks about; scale_out: whether the answer may use more
    devices than asked (False when the scenario fixed the count).
    """
    total = mem.total
    asked = np.broadcast_to(np.maximum(np.asarray(asked, dtype=np.float64), 1.0), total.shape)
    scale_out = np.broadcast_to(np.asarray(scale_out, dtype=bool), total.shape)
    fits = mem.per_device(asked) <= usable
    devices_needed = np.full(total.shape, np.nan)
    for n in reversed(TP_SIZES):
        if n <= max_devices:
            devices_needed = np.where(mem.per_device(n) <= usable, n, devices_needed)
    multi = multi_possible & scale_out & (devices_needed > asked)
    # Offload moves whole layers (their weights and KV) to host RAM; the embeddings, LM head,
    # buffers and runtime overhead stay on the device. One device only.
    layers = np.maximum(m.n_layers, 1.0)
    per_layer = (mem.weights_dense + mem.weights_experts + mem.kv_cache) / layers
    fixed = mem.weights_embedding + mem.vision + mem.activations + mem.logits + mem.overhead
    on_device = np.clip(np.floor((usable - fixed) / per_layer), 0.0, layers)
    host_ok = (host_memory > 0) & ((layers - on_device) * per_layer <= host_memory)
    can_offload = offload_possible & host_ok & (usable > fixed) & (asked == 1)
    out = np.full(total.shape, NO_FIT, dtype=np.int8)
    out[multi] = MULTI_DEVICE
    out[can_offload] = OFFLOAD
    out[fits] = FITS
    # What is known is a lower bound of the total: when even that exceeds the asked devices'
    # memory nothing runs, whatever the missing part is (weights alone of a 72B model > 24 GB).
    weights = mem.weights if mem.weights_floor is None else np.where(np.isnan(mem.weights), mem.weights_floor,
                                                                      mem.weights)
    lower = (nan_to_num(weights) + nan_to_num(mem.kv_cache)) / asked + nan_to_num(mem.vision) \
        + nan_to_num(mem.activations) + nan_to_num(mem.logits) + nan_to_num(mem.overhead)
    unknown = (np.isnan(total) | np.isnan(usable)) & ~(lower > usable)
    out[unknown] = UNKNOWN
    offload = out == OFFLOAD
    return Verdict(
        code=out,
        devices_needed=np.where(np.isnan(total) | np.isnan(usable), np.nan, devices_needed),
        layers_on_device=np.where(out == FITS, m.n_layers, np.where(offload, on_device, np.nan)),
        device_fraction=np.where(offload, on_device / layers, 1.0),
        headroom=usable - total,
    )


def scenario_verdict(
    mem: MemoryBreakdown,
    m: ModelArrays,
    usable: np.ndarray,
    *,
    offload_kind: np.ndarray,
    multi_kind: np.ndarray,
    usable_fraction: np.ndarray,
    host_memory: np.ndarray,
    n_devices_given: np.ndarray,
    supported: np.ndarray,
    max_devices: int = 8,
    scale_out: np.ndarray | bool = True,
) -> tuple[Verdict, np.ndarray]:
    """`verdict` for a scenario frame, and its code once the scenario's own setup is applied.

    Offload needs host RAM apart from the device's: a kind in OFFLOAD_KINDS whose memory is not
    unified (usable fraction < 1 means the GPU shares the host's RAM). The verdict is for the
    device count given (`asked`); scale_out says whether the answer may use more. A weight format
    with no kernels for the device is `unsupported` (unless its memory is unknown).
    """
    unified = nan_to_num(usable_fraction, nan=1.0) < 1.0
    result = verdict(mem, m, usable, offload_kind & ~unified, multi_kind, host_memory, max_devices=max_devices,
                     asked=n_devices_given, scale_out=scale_out)
    code = result.code.copy()
    code[~supported & (code != UNKNOWN)] = UNSUPPORTED
    return result, code


def max_batch(mem_at_batch1: MemoryBreakdown, usable: np.ndarray, n_devices: np.ndarray, cap: int) -> np.ndarray:
    """Largest batch whose memory fits on each of `n_devices` (tensor parallel; 1 = one device).

    KV, activations and logits scale with the batch; weights and KV split over the devices.
    """
    mem = mem_at_batch1
    n = np.maximum(n_devices, 1.0)
    fixed = mem.weights / n + mem.vision + mem.overhead
    per_sequence = mem.kv_cache / n + mem.activations + mem.logits
    with np.errstate(divide="ignore", invalid="ignore"):
        batch = np.floor((usable - fixed) / per_sequence)
    return np.clip(nan_to_num(batch, nan=0.0), 0.0, float(cap))


# Why each verdict, one sentence per case (the figures are in the other columns).
VERDICT_REASONS = {
    "fits": "fits in the usable memory of the device count asked",
    "offload": "does not fit the device: layers_on_device of the layers stay on it and the rest run from "
               "host RAM (the default when a model does not fit one device)",
    "multi_device": "does not fit one device and cannot be offloaded: the figures are for devices_needed "
                    "devices in tensor parallel, not for the device count asked",
    "no_fit": "does not fit the device count asked and cannot be offloaded (offload not allowed, host RAM too "
              "small or unified memory); devices_needed says how many devices would hold it",
    "no_fit_lower_bound": "what is known of the memory need (weights, ...) already exceeds the usable memory",
    "unknown_memory": "the device's memory size is not in the catalog (a configurable part): give memory_gb; "
                      "the speed figures assume the model fits",
    "unknown_shape": "a model shape the memory total needs is missing from the catalog; the speed figures "
                     "assume the model fits",
    "unsupported": "the weight format has no kernels for this kind of device",
}


def verdict_reasons(code: np.ndarray, total: np.ndarray, usable: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The VERDICT_REASONS sentence of every row: its code into the sentences, and the sentences."""
    names = list(VERDICT_REASONS)
    which = np.select(
        [code == FITS, code == OFFLOAD, code == MULTI_DEVICE, (code == NO_FIT) & np.isnan(total),
         code == NO_FIT, (code == UNKNOWN) & np.isnan(usable), code == UNKNOWN],
        [names.index(k) for k in ("fits", "offload", "multi_device", "no_fit_lower_bound", "no_fit",
                                  "unknown_memory", "unknown_shape")],
        default=names.index("unsupported"),
    )
    return which, list(VERDICT_REASONS.values())
