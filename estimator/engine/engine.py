"""Named, timed forward kinds over a `Transformer` and its `KVCache` (docs/diffusion.md §2.1).

| kind            | queries                     | keys                          | writes KV          |
|-----------------|-----------------------------|-------------------------------|--------------------|
| prefill         | prompt                      | prompt (causal / block-causal)| yes                |
| ar_step         | 1 token                     | cache + token                 | yes                |
| diffusion_step  | the block (bidirectional)   | cache + block                 | no (scratch rows)  |
| commit          | the clean block             | cache + block                 | yes                |
| full            | the whole canvas            | the whole canvas, no cache    | optionally (refresh)|
| prefix_step     | block + every later block   | stale prefix cache + queries  | no (scratch rows)  |

Every kind is timed individually (synchronised on CUDA) and logged as a `PassRecord` with the
experts touched per MoE layer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch

from .model import KVCache, Transformer

KINDS = ("prefill", "ar_step", "diffusion_step", "commit", "full", "prefix_step")


def causal_mask(q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
    """allow[i, j] = key j is not after query i."""
    return k_pos[None, :] <= q_pos[:, None]


def block_of(pos: torch.Tensor, block: int, origin: int) -> torch.Tensor:
    """Block index of each position; blocks are [origin + n*block, origin + (n+1)*block).

    origin 0 is absolute alignment (SDAR/LLaDA2: the prompt tail shares the first block);
    origin = prompt length aligns blocks to the prompt end (prompt blocks get negative ids).
    """
    return torch.div(pos - origin, block, rounding_mode="floor")


def block_causal_mask(q_pos: torch.Tensor, k_pos: torch.Tensor, block: int, origin: int) -> torch.Tensor:
    """allow[i, j] = block(j) <= block(i): bidirectional inside a block, causal across blocks."""
    return block_of(k_pos, block, origin)[None, :] <= block_of(q_pos, block, origin)[:, None]


@dataclass
class PassRecord:
    """One forward: what went in, how long it took, how many experts each MoE layer touched."""

    kind: str
    batch: int
    queries: int          # new tokens per sequence
    context: int          # committed cache rows before the pass (0 without a cache)
    seconds: float
    experts_touched: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


class Engine:
    """The forward kinds of the table above, each timed and recorded in `passes`."""

    def __init__(self, model: Transformer, *, on_pass: Callable[[PassRecord], None] | None = None) -> None:
        self.model = model
        self.passes: list[PassRecord] = []
        self.on_pass = on_pass
        self._cuda = model.device.type == "cuda"

    def _sync(self) -> None:
        if self._cuda:
            torch.cuda.synchronize(self.model.device)

    def _timed(self, kind: str, batch: int, queries: int, context: int, fn: Callable[[], object]) -> object:
        self._sync()
        t0 = time.perf_counter()
        out = fn()
        self._sync()
        record = PassRecord(kind, batch, queries, context, time.perf_counter() - t0,
                            list(self.model.last_touched))
        self.passes.append(record)
        if self.on_pass is not None:
            self.on_pass(record)
        return out

    def _positions(self, start: int, n: int) -> torch.Tensor:
        return torch.arange(start, start + n, device=self.model.device)

    # --- the kinds ------------------------------------------------------------------------------
    def prefill(self, cache: KVCache, tokens: torch.Tensor, *, rule: str = "causal", block: int = 0,
                origin: int = 0, logits: str = "last") -> torch.Tensor | None:
        """Encode `tokens` at [cache.length, +t) and commit them. rule: 'causal' | 'block_causal'."""
        start, t = cache.length, tokens.shape[1]
        q_pos, k_pos = self._positions(start, t), self._positions(0, start + t)
        if rule == "causal":
            mask = causal_mask(q_pos, k_pos)
        elif rule == "block_causal":
            mask = block_causal_mask(q_pos, k_pos, block, origin)
        else:
            raise ValueError(f"prefill rule: 'causal' or 'block_causal', got {rule!r}")
        return self._timed("prefill", tokens.shape[0], t, start, lambda: self.model.forward(
            tokens, start, cache=cache, write=True, mask=mask, logits=logits))

    def ar_step(self, cache: KVCache, token: torch.Tensor) -> torch.Tensor:
        """One autoregressive token [b, 1] at position cache.length; sees everything cached."""
        start = cache.length
        return self._timed("ar_step", token.shape[0], 1, start, lambda: self.model.forward(
            token, start, cache=cache, write=True, logits="all"))

    def diffusion_step(self, cache: KVCache, block: torch.Tensor, *, self_cond: bool = False,
                       sc_logits: torch.Tensor | None = None) -> torch.Tensor:
        """Denoise a block at [cache.length, +B): keys = cache + block, all visible; nothing committed."""
        start = cache.length
        return self._timed("diffusion_step", block.shape[0], block.shape[1], start, lambda: self.model.forward(
            block, start, cache=cache, write=False, self_cond=self_cond, sc_logits=sc_logits, logits="all"))

    def commit(self, cache: KVCache, block: torch.Tensor, *, causal: bool = False) -> None:
        """Write the clean block's K/V: bidirectional inside it (SDAR) or causal (DiffusionGemma encoder)."""
        start, t = cache.length, block.shape[1]
        mask = causal_mask(self._positions(start, t), self._positions(0, start + t)) if causal else None
        self._timed("commit", block.shape[0], t, start, lambda: self.model.forward(
            block, start, cache=cache, write=True, mask=mask, logits="none"))

    def full(self, canvas: torch.Tensor, *, cache: KVCache | None = None) -> torch.Tensor:
        """Bidirectional forward over the whole canvas (family A). With a cache: refresh all rows."""
        if cache is not None:
            cache.length = 0
        return self._timed("full", canvas.shape[0], canvas.shape[1], 0, lambda: self.model.forward(
            canvas, 0, cache=cache, write=cache is not None, logits="all"))

    def prefix_step(self, cache: KVCache, suffix: torch.Tensor) -> torch.Tensor:
        """Fast-dLLM PrefixCache step: queries = everything from the block on, keys = stale prefix + queries."""
        start = cache.length
        return self._timed("prefix_step", suffix.shape[0], suffix.shape[1], start, lambda: self.model.forward(
            suffix, start, cache=cache, write=False, logits="all"))
