"""The reference transformer: RMSNorm, GQA attention with RoPE, sliding windows, dense/MoE FFN.

Built from a resolved `Arch` with random weights from a seed. Inference only (no autograd).
One `forward` serves every forward kind; what differs between kinds is where the new tokens
sit (`start`), whether their K/V become part of the committed cache (`write`), and the mask
among them. The engine (`engine.py`) names and times the kinds.

Conventions that matter for correctness (docs/diffusion.md §5.5):
- RoPE is applied at absolute positions, and the cache holds post-RoPE keys, so a cached key
  never needs re-rotating (docs/diffusion.md §5.5 pitfall 3).
- A forward that does not commit still writes its K/V into the *scratch* rows just after the
  committed length, so attention reads one contiguous view of the cache; committed rows are
  never touched (asserted), and the next commit overwrites the scratch rows.
- Sliding-window layers read only the keys inside the window (so bytes and FLOPs are those of
  a windowed runtime) and mask |query_pos - key_pos| >= window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .arch import Arch

DTYPES: dict[str, torch.dtype] = {
    "fp32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
    "fp64": torch.float64,
}


def dtype_of(name: str) -> torch.dtype:
    """torch dtype for 'fp32' | 'bf16' | 'fp16' | 'fp64' (ValueError otherwise)."""
    try:
        return DTYPES[name]
    except KeyError:
        raise ValueError(f"dtype: one of {', '.join(DTYPES)}, got {name!r}") from None


@dataclass
class LayerSpec:
    """Shape of one layer as built."""

    attention: str      # 'sliding' | 'global'
    ffn: str            # 'dense' | 'moe'
    n_kv_heads: int
    head_dim: int
    window: int | None  # sliding window in tokens, None for global layers
    rope_theta: float


class KVCache:
    """Preallocated per-layer K/V, [batch, kv_heads, max_len, head_dim] each, plus the committed length.

    Every layer is allocated for the full `max_len`, sliding layers included (a windowed
    runtime would keep about `window` rows there); `nbytes` reports what was allocated.
    """

    def __init__(self, specs: list[LayerSpec], batch: int, max_len: int, dtype: torch.dtype,
                 device: torch.device) -> None:
        self.max_len = max_len
        self.batch = batch
        self.length = 0  # rows [0, length) hold committed (clean) K/V
        self.k = [torch.zeros(batch, s.n_kv_heads, max_len, s.head_dim, dtype=dtype, device=device)
                  for s in specs]
        self.v = [torch.zeros_like(t) for t in self.k]

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.k + self.v)

    def truncate(self, length: int) -> None:
        """Keep only rows [0, length) as committed (Fast-dLLM PrefixCache keeps the prefix of a refresh)."""
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot truncate a cache of {self.length} rows to {length}")
        self.length = length


def _rope_tables(positions: torch.Tensor, head_dim: int, theta: float, dtype: torch.dtype
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    # Angles in fp64/fp32 whatever the model dtype: bf16 positions lose integer precision past 256.
    work = torch.float64 if dtype == torch.float64 else torch.float32
    inv = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=positions.device, dtype=work) / head_dim))
    angles = positions.to(work)[:, None] * inv[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos().to(dtype), angles.sin().to(dtype)


def _apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """x: [b, heads, T, dh]; rotate-half convention."""
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + rotated * sin


class Transformer:
    """A decoder-only transformer with random weights; see the module docstring.

    Attributes after each `forward`: `last_touched` (experts touched per MoE layer, in layer
    order) — the E_touched the roofline is fed with.
    """

    def __init__(self, arch: Arch, *, dtype: str = "fp32", device: str | torch.device = "cpu",
                 seed: int = 0, moe_impl: str = "loop") -> None:
        if moe_impl not in ("loop", "grouped"):
            raise ValueError(f"moe_impl: 'loop' or 'grouped', got {moe_impl!r}")
        self.arch = arch
        self.dtype = dtype_of(dtype)
        self.device = torch.device(device)
        self.moe_impl = moe_impl
        self.mask_id = arch.vocab_size - 1  # reserved: never sampled (docs/diffusion.md §5.5 pitfall 2)
        self.pad_id = arch.vocab_size - 2   # reserved, distinct from mask (LLaDA asserts it)
        self.last_touched: list[int] = []
        self.last_cache_nbytes = 0  # bytes of the most recent cache from new_cache()
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed)
        d = arch.hidden_size

        def rand(*shape: int, fan_in: int) -> torch.Tensor:
            # N(0, 1/fan_in): keeps activations O(1) through the stack and, for the LM head,
            # logits of std ~1 -> the near-uniform softmax of an untrained model (docs/diffusion.md §5.5 pitfall 8).
            t = torch.randn(*shape, generator=gen, device=self.device, dtype=self.dtype)
            return t.mul_(1.0 / math.sqrt(fan_in))

        def ones(n: int) -> torch.Tensor:
            return torch.ones(n, device=self.device, dtype=self.dtype)

        self.embed = rand(arch.vocab_size, d, fan_in=d)
        self.lm_head = self.embed if arch.tied_embeddings else rand(arch.vocab_size, d, fan_in=d)
        self.specs: list[LayerSpec] = []
        self.layers: list[dict[str, torch.Tensor]] = []
        for attention, ffn in zip(arch.layer_types(), arch.ffn_types()):
            n_kv, dh = arch.attention_shape(attention)
            spec = LayerSpec(
                attention=attention, ffn=ffn, n_kv_heads=n_kv, head_dim=dh,
                window=arch.sliding_window if attention == "sliding" else None,
                rope_theta=arch.rope_theta_global if attention == "global" else arch.rope_theta,
            )
            qdim = arch.n_heads * dh
            w: dict[str, torch.Tensor] = {
                "norm1": ones(d), "norm2": ones(d),
                "wq": rand(d, qdim, fan_in=d), "wk": rand(d, n_kv * dh, fan_in=d),
                "wv": rand(d, n_kv * dh, fan_in=d), "wo": rand(qdim, d, fan_in=qdim),
            }
            if ffn == "dense":
                w["w13"] = rand(d, 2 * arch.intermediate_size, fan_in=d)
                w["w2"] = rand(arch.intermediate_size, d, fan_in=arch.intermediate_size)
            else:
                f = arch.moe_intermediate_size
                w["router"] = rand(d, arch.n_experts, fan_in=d)
                w["e13"] = rand(arch.n_experts, d, 2 * f, fan_in=d)
                w["e2"] = rand(arch.n_experts, f, d, fan_in=f)
                if arch.parallel_mlp_size:
                    w["p13"] = rand(d, 2 * arch.parallel_mlp_size, fan_in=d)
                    w["p2"] = rand(arch.parallel_mlp_size, d, fan_in=arch.parallel_mlp_size)
            self.specs.append(spec)
            self.layers.append(w)
        self.final_norm = ones(d)
        self.sc: dict[str, torch.Tensor] | None = None
        if arch.self_conditioning:
            # The branch joins the token embeddings (rms 1/sqrt(d)), so its output starts at that
            # scale too: an untrained model's soft embedding is nearly the same for every token,
            # and an O(1) common term would send all tokens to the same experts.
            self.sc = {
                "norm": ones(d),
                "w13": rand(d, 2 * arch.intermediate_size, fan_in=d),
                "w2": rand(arch.intermediate_size, d, fan_in=arch.intermediate_size * d),
            }

    # --- bookkeeping --------------------------------------------------------------------------
    def tensors(self) -> list[torch.Tensor]:
        """Every weight tensor once (a tied LM head is the embedding)."""
        out = [self.embed, self.final_norm]
        if self.lm_head is not self.embed:
            out.append(self.lm_head)
        for w in self.layers:
            out.extend(w.values())
        if self.sc:
            out.extend(self.sc.values())
        return out

    @property
    def weights_bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors())

    @property
    def n_params(self) -> int:
        return sum(t.numel() for t in self.tensors())

    def new_cache(self, batch: int, max_len: int) -> KVCache:
        """A zeroed cache for `batch` sequences of up to `max_len` positions."""
        cache = KVCache(self.specs, batch, max_len, self.dtype, self.device)
        self.last_cache_nbytes = cache.nbytes
        return cache

    # --- pieces -------------------------------------------------------------------------------
    def _norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        # Reduce in fp32 for half types: bf16 mean-of-squares over 2816 channels is too coarse.
        xf = x.float() if x.dtype in (torch.bfloat16, torch.float16) else x
        y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.arch.rms_eps)
        return y.to(x.dtype) * weight

    @staticmethod
    def _mlp(x: torch.Tensor, w13: torch.Tensor, w2: torch.Tensor) -> torch.Tensor:
        gate, up = (x @ w13).chunk(2, dim=-1)
        return (F.silu(gate) * up) @ w2

    def _attention(self, li: int, h: torch.Tensor, start: int, cache: KVCache | None,
                   mask: torch.Tensor | None, rope: dict) -> torch.Tensor:
        spec, w = self.specs[li], self.layers[li]
        b, t, _ = h.shape
        n_h, n_kv, dh = self.arch.n_heads, spec.n_kv_heads, spec.head_dim
        cos, sin = rope[(dh, spec.rope_theta)]
        q = _apply_rope((h @ w["wq"]).view(b, t, n_h, dh).transpose(1, 2), cos, sin)
        k = _apply_rope((h @ w["wk"]).view(b, t, n_kv, dh).transpose(1, 2), cos, sin)
        v = (h @ w["wv"]).view(b, t, n_kv, dh).transpose(1, 2)
        if cache is not None:
            cache.k[li][:, :, start:start + t] = k
            cache.v[li][:, :, start:start + t] = v
            k_first = 0  # keys are absolute positions [0, start + t)
            keys, values = cache.k[li], cache.v[li]
        else:
            k_first = start  # keys are the fresh tokens only
            keys, values = k, v
        # Sliding layers read only the window: the earliest query (start) reaches back W-1.
        lo = max(k_first, start - spec.window + 1) if spec.window else k_first
        keys = keys[:, :, lo - k_first:start + t - k_first]
        values = values[:, :, lo - k_first:start + t - k_first]
        layer_mask = mask[:, lo - k_first:] if mask is not None else None
        if spec.window and (start + t - 1) - lo >= spec.window:
            q_pos = torch.arange(start, start + t, device=h.device)
            k_pos = torch.arange(lo, start + t, device=h.device)
            inside = (q_pos[:, None] - k_pos[None, :]).abs() < spec.window
            layer_mask = inside if layer_mask is None else layer_mask & inside
        # GQA without copying K/V: fold each KV head's query group into the query-length axis,
        # [b, n_kv, g*t, dh]; the mask repeats once per group member. Works on every SDPA backend.
        group = n_h // n_kv
        q = q.reshape(b, n_kv, group * t, dh)
        if layer_mask is not None:
            layer_mask = layer_mask.repeat(group, 1)
        out = F.scaled_dot_product_attention(q, keys, values, attn_mask=layer_mask)
        out = out.view(b, n_h, t, dh).transpose(1, 2).reshape(b, t, n_h * dh)
        return out @ w["wo"]

    def _moe(self, w: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, int]:
        """Routed experts (+ the parallel MLP); returns (output, experts touched)."""
        arch = self.arch
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        # Router softmax in fp32, top-k renormalised (norm_topk_prob).
        probs = torch.softmax((flat @ w["router"]).float(), dim=-1)
        top_w, top_i = torch.topk(probs, arch.n_experts_active, dim=-1)
        top_w = (top_w / top_w.sum(-1, keepdim=True)).to(flat.dtype)
        flat_i = top_i.reshape(-1)
        order = torch.argsort(flat_i, stable=True)
        # One host sync per layer: the loop below needs the per-expert counts on the host.
        counts = torch.bincount(flat_i, minlength=arch.n_experts).tolist()
        touched = sum(1 for c in counts if c)
        out = torch.zeros_like(flat)
        k = arch.n_experts_active
        if self.moe_impl == "grouped" and touched == arch.n_experts:
            # Every expert is touched (a big diffusion canvas): pad each expert's tokens to the
            # largest count and run three batched GEMMs instead of E small ones. Each expert's
            # weights are still read once; the padding costs FLOPs only.
            width = max(counts)
            slot = torch.arange(flat_i.numel(), device=flat.device) - torch.repeat_interleave(
                torch.cumsum(torch.tensor([0] + counts[:-1], device=flat.device), 0),
                torch.tensor(counts, device=flat.device))
            expert_of = flat_i[order]
            tokens = order // k
            packed = torch.zeros(arch.n_experts, width, shape[-1], dtype=flat.dtype, device=flat.device)
            packed[expert_of, slot] = flat[tokens]
            gate, up = torch.bmm(packed, w["e13"]).chunk(2, dim=-1)
            y = torch.bmm(F.silu(gate) * up, w["e2"])[expert_of, slot]
            out.index_add_(0, tokens, y * top_w.reshape(-1)[order, None])
        else:
            begin = 0
            for e, count in enumerate(counts):
                if not count:
                    continue
                sel = order[begin:begin + count]
                begin += count
                tokens = sel // k
                y = self._mlp(flat[tokens], w["e13"][e], w["e2"][e])
                out.index_add_(0, tokens, y * top_w.reshape(-1)[sel, None])
        if "p13" in w:
            out = out + self._mlp(flat, w["p13"], w["p2"])
        return out.view(shape), touched

    def _self_condition(self, x: torch.Tensor, sc_logits: torch.Tensor | None) -> torch.Tensor:
        # DiffusionGemma decoder input: embeddings + MLP(softmax(previous logits) @ E). The
        # [q x V] x [V x d] soft-embedding GEMM is the cost the roofline adds per step; the first
        # step of a canvas has no previous logits and feeds zeros, as the reference does.
        assert self.sc is not None
        if sc_logits is None:
            soft = torch.zeros_like(x)
        else:
            soft = torch.softmax(sc_logits.float(), dim=-1).to(x.dtype) @ self.embed
        return x + self._mlp(self._norm(soft, self.sc["norm"]), self.sc["w13"], self.sc["w2"])

    # --- the forward --------------------------------------------------------------------------
    @torch.no_grad()
    def forward(self, tokens: torch.Tensor, start: int, *, cache: KVCache | None = None,
                write: bool = False, mask: torch.Tensor | None = None,
                self_cond: bool = False, sc_logits: torch.Tensor | None = None,
                logits: str | slice = "all") -> torch.Tensor | None:
        """Run `tokens` [b, t] placed at absolute positions [start, start + t).

        cache: when given, keys are the committed rows [0, cache.length) plus these tokens
            (which must start at cache.length or later); the tokens' K/V are written at
            [start, start + t). `write=True` makes them committed (cache.length = start + t).
            Without a cache, keys are these tokens only.
        mask: boolean [t, n_keys] (True = may attend) over the keys as above, or None for
            "every key visible"; sliding windows are applied on top, per layer.
        self_cond: add the self-conditioning input (decoder forwards of a self-conditioned model).
        logits: 'all' | 'last' | 'none' | a slice of rows; returned as fp32 [b, rows, V].
        """
        b, t = tokens.shape
        if cache is not None:
            # The committed prefix is read-only: a non-committing forward uses scratch rows only.
            assert start >= cache.length, "a forward may not overwrite committed cache rows"
            assert start + t <= cache.max_len, "cache too short for this forward"
            assert not write or start == cache.length, "a commit must extend the committed prefix"
        x = self.embed[tokens]
        if self_cond and self.sc is not None:
            x = self._self_condition(x, sc_logits)
        positions = torch.arange(start, start + t, device=self.device)
        rope = {(s.head_dim, s.rope_theta): None for s in self.specs}
        rope = {key: _rope_tables(positions, key[0], key[1], self.dtype) for key in rope}
        touched: list[int] = []
        for li, w in enumerate(self.layers):
            x = x + self._attention(li, self._norm(x, w["norm1"]), start, cache, mask, rope)
            h = self._norm(x, w["norm2"])
            if self.specs[li].ffn == "dense":
                x = x + self._mlp(h, w["w13"], w["w2"])
            else:
                y, n = self._moe(w, h)
                x = x + y
                touched.append(n)
        self.last_touched = touched
        if cache is not None and write:
            cache.length = start + t
        if logits == "none":
            return None
        rows = {"all": slice(None), "last": slice(-1, None)}.get(logits, logits)
        x = self._norm(x[:, rows], self.final_norm)
        # LM head in the model dtype (as runtimes do), sampling in fp32.
        return (x @ self.lm_head.T).float()
