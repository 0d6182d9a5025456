"""Decoding modes over the forward kinds of `engine.Engine` (docs/diffusion.md §1).

- `decode_ar`: greedy autoregressive decoding.
- `decode_block_mask`: block-causal block diffusion with [MASK] noise and an exact prefix cache
  (SDAR / LLaDA2 / Fast-dLLM v2 family): per block, diffusion steps until no [MASK] is left,
  then one commit forward. Commits per step by a confidence threshold or a fixed schedule.
- `decode_block_uniform`: DiffusionGemma: a canvas of uniform random tokens, entropy-bound
  acceptance, re-noising of everything not accepted, self-conditioning on the previous
  step's logits, a linear temperature schedule, stable-and-confident stopping.
- `decode_full`: full-attention masked diffusion (LLaDA-style, family A), either without a
  cache (every step re-runs the whole canvas) or with a Fast-dLLM PrefixCache refreshed by a
  full forward at each block start (an approximation: the prefix K/V go stale as the block fills).

Rows of a batch that finish a block early keep running with it until every row is done
(docs/diffusion.md §5.5 pitfall 7, the simple choice): their forwards are not skipped, nothing of theirs changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .engine import Engine

Progress = Callable[[int], None]  # called with the number of positions decoded so far


@dataclass
class DecodeResult:
    """Decoded tokens [batch, n] (positions after the prompt) and per-block step counts."""

    tokens: torch.Tensor
    steps_per_block: list[int] = field(default_factory=list)
    accepted_per_step: list[float] = field(default_factory=list)  # mean over rows, uniform mode


# --- commit rules (pure functions of one step's confidences) ------------------------------------
def commit_by_threshold(conf: torch.Tensor, masked: torch.Tensor, threshold: float) -> torch.Tensor:
    """Commit masked positions with confidence >= threshold, and always the most confident one.

    conf, masked: [b, B]. The forced top-1 is what makes a block finish (docs/diffusion.md §5.5 pitfall 1): a random or
    unsure model may never reach the threshold. Rows without masked positions commit nothing.
    """
    scores = conf.masked_fill(~masked, float("-inf"))
    commit = masked & (scores >= threshold)
    has_masked = masked.any(dim=-1)
    top = scores.argmax(dim=-1)
    commit[has_masked, top[has_masked]] = True
    return commit


def commit_by_schedule(conf: torch.Tensor, masked: torch.Tensor, tokens_per_step: int) -> torch.Tensor:
    """Commit the `tokens_per_step` most confident masked positions (fewer when fewer are left).

    The synthetic schedule of docs/diffusion.md §5.5 pitfall 8: the commit count no longer depends on random logits,
    so a timing run can reproduce any tokens-per-forward.
    """
    if tokens_per_step < 1:
        raise ValueError("tokens_per_step must be >= 1")
    scores = conf.masked_fill(~masked, float("-inf"))
    k = min(tokens_per_step, conf.shape[-1])
    top = torch.topk(scores, k, dim=-1).indices
    commit = torch.zeros_like(masked)
    commit.scatter_(1, top, True)
    return commit & masked  # rows with fewer than k masked picked some -inf (unmasked) slots


def accept_by_entropy_bound(entropy: torch.Tensor, bound: float) -> torch.Tensor:
    """DiffusionGemma/EB-sampler acceptance: the k lowest-entropy positions with
    sum(H_1..k) - max(H_1..k) <= bound. Always >= 1 position (the sum minus max of one is 0)."""
    sorted_h, order = torch.sort(entropy, dim=-1)
    keep = (torch.cumsum(sorted_h, dim=-1) - sorted_h) <= bound
    return torch.zeros_like(keep).scatter(1, order, keep)


def _restrict(logits: torch.Tensor, first_reserved: int) -> torch.Tensor:
    """Make reserved ids ([PAD], [MASK] at the top of the vocabulary) impossible to emit (docs/diffusion.md §5.5 pitfall 2)."""
    logits[..., first_reserved:] = float("-inf")
    return logits


def sample_categorical(probs: torch.Tensor, limit: int, generator: torch.Generator) -> torch.Tensor:
    """One draw per row of `probs` [..., V] by inverting the CDF, from ids [0, limit).

    The same distribution as torch.multinomial(probs, 1) but about ten times cheaper on a CPU
    over a large vocabulary (cumsum + binary search instead of multinomial's per-row set-up),
    so host time does not swamp the forward time being measured. Zero-probability ids are never
    drawn; ids >= limit (the reserved ones) must have zero probability.
    """
    cdf = probs[..., :limit].cumsum(dim=-1)
    u = torch.rand(cdf.shape[:-1] + (1,), generator=generator, device=cdf.device, dtype=cdf.dtype)
    return torch.searchsorted(cdf, u * cdf[..., -1:], right=True).clamp_(max=limit - 1).squeeze(-1)


Rule = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (confidence, masked) -> commit


def _commit_rule(rule: str, threshold: float, tokens_per_step: int) -> Rule:
    if rule == "threshold":
        return lambda conf, masked: commit_by_threshold(conf, masked, threshold)
    if rule == "schedule":
        return lambda conf, masked: commit_by_schedule(conf, masked, tokens_per_step)
    raise ValueError(f"commit_rule: 'threshold' or 'schedule', got {rule!r}")


def _unmask(block: torch.Tensor, logits: torch.Tensor, mask_id: int, first_reserved: int,
            rule: Rule) -> torch.Tensor:
    """One [MASK] denoising update: greedy predictions, confidence = p(argmax) in fp32."""
    probs = torch.softmax(_restrict(logits, first_reserved), dim=-1)
    conf, pred = probs.max(dim=-1)
    masked = block == mask_id
    return torch.where(rule(conf, masked), pred, block)


# --- modes ----------------------------------------------------------------------------------------
def decode_ar(engine: Engine, prompt: torch.Tensor, gen_len: int, *, progress: Progress | None = None
              ) -> DecodeResult:
    """Greedy autoregressive decoding: one prefill (gives the first token), then gen_len - 1 steps."""
    model = engine.model
    b, p = prompt.shape
    cache = model.new_cache(b, p + gen_len)
    logits = engine.prefill(cache, prompt, rule="causal", logits="last")
    out = torch.empty(b, gen_len, dtype=torch.long, device=model.device)
    for i in range(gen_len):
        token = _restrict(logits[:, -1], model.pad_id).argmax(dim=-1, keepdim=True)
        out[:, i:i + 1] = token
        if progress:
            progress(i + 1)
        if i + 1 < gen_len:
            logits = engine.ar_step(cache, token)
    return DecodeResult(out)


def block_span(prompt_len: int, gen_len: int, block: int, alignment: str) -> tuple[int, int]:
    """(first, end): the blocks to decode cover positions [first, end), a multiple of `block`.

    'absolute': blocks sit on multiples of `block`; the first one may hold the prompt tail.
    'prompt_end': the first block starts right after the prompt.
    """
    if alignment == "absolute":
        first = (prompt_len // block) * block
    elif alignment == "prompt_end":
        first = prompt_len
    else:
        raise ValueError(f"block_alignment: 'absolute' or 'prompt_end', got {alignment!r}")
    return first, first + math.ceil((prompt_len + gen_len - first) / block) * block


def decode_block_mask(engine: Engine, prompt: torch.Tensor, gen_len: int, *, block: int,
                      commit_rule: str = "schedule", threshold: float = 0.9, tokens_per_step: int = 4,
                      alignment: str = "absolute", commit_attention: str = "block",
                      commit_last_block: bool = True, progress: Progress | None = None) -> DecodeResult:
    """Block-causal [MASK] diffusion with an exact prefix cache (SDAR `block_diffusion_generate`).

    Prefill the whole prompt blocks; per block: diffusion steps (queries = block, keys = cache +
    block, nothing written) until no [MASK] is left, then a commit forward of the clean block
    (docs/diffusion.md §5.5 pitfall 4: the K/V seen during the last step came from a still-noisy block).
    """
    model = engine.model
    b, p = prompt.shape
    first, end = block_span(p, gen_len, block, alignment)
    origin = 0 if alignment == "absolute" else p
    seq = torch.full((b, end), model.mask_id, dtype=torch.long, device=model.device)
    seq[:, :p] = prompt
    cache = model.new_cache(b, end)
    causal = commit_attention == "causal"
    if first > 0:
        engine.prefill(cache, seq[:, :first], rule="causal" if causal else "block_causal",
                       block=block, origin=origin, logits="none")
    rule = _commit_rule(commit_rule, threshold, tokens_per_step)
    steps: list[int] = []
    for start in range(first, end, block):
        current = seq[:, start:start + block].clone()
        n = 0
        while bool((current == model.mask_id).any()):
            logits = engine.diffusion_step(cache, current)
            current = _unmask(current, logits, model.mask_id, model.pad_id, rule)
            n += 1
        seq[:, start:start + block] = current
        steps.append(n)
        if start + block < end or commit_last_block:
            engine.commit(cache, current, causal=causal)
        if progress:
            progress(start + block - p)
    return DecodeResult(seq[:, p:end], steps)


def decode_block_uniform(engine: Engine, prompt: torch.Tensor, gen_len: int, *, block: int,
                         generator: torch.Generator, max_denoising_steps: int = 48,
                         entropy_bound: float = 0.1, t_min: float = 0.4, t_max: float = 0.8,
                         stability_threshold: int = 1, confidence_threshold: float = 0.005,
                         tokens_per_step: int | None = None, commit_last_block: bool = False,
                         progress: Progress | None = None) -> DecodeResult:
    """DiffusionGemma canvas decoding (HF `generation_diffusion_gemma.py`), exact prefix cache.

    The prompt is encoded causally; each canvas of `block` uniform random tokens is denoised for
    at most `max_denoising_steps` steps (adaptive stop when the argmax canvas is stable and the
    mean entropy is below `confidence_threshold`), or - when `tokens_per_step` is given - for
    exactly ceil(block / tokens_per_step) steps, the timing schedule of docs/diffusion.md §5.5 pitfall 8. The argmax
    canvas is the output and is committed causally (the last one is not, as in the reference).
    """
    model = engine.model
    b, p = prompt.shape
    n_canvases = math.ceil(gen_len / block)
    end = p + n_canvases * block
    cache = model.new_cache(b, end)
    engine.prefill(cache, prompt, rule="causal", logits="none")
    vocab_noise = model.pad_id  # noise and samples come from [0, V-2): reserved ids excluded
    out = torch.empty(b, n_canvases * block, dtype=torch.long, device=model.device)
    steps: list[int] = []
    accepted: list[float] = []
    n_steps = max_denoising_steps if tokens_per_step is None else math.ceil(block / tokens_per_step)
    for c in range(n_canvases):
        canvas = torch.randint(0, vocab_noise, (b, block), generator=generator, device=model.device)
        argmax_canvas = canvas
        sc_logits: torch.Tensor | None = None
        history: list[torch.Tensor] = []
        finished = torch.zeros(b, dtype=torch.bool, device=model.device)
        n = 0
        for cur_step in range(n_steps, 0, -1):  # counts down: steps *remaining*, as the reference
            logits = engine.diffusion_step(cache, canvas, self_cond=True, sc_logits=sc_logits)
            temperature = t_min + (t_max - t_min) * cur_step / n_steps
            processed = _restrict(logits / temperature, model.pad_id)
            probs = torch.softmax(processed, dim=-1)
            denoised = sample_categorical(probs, vocab_noise, generator)
            new_argmax = processed.argmax(dim=-1)
            entropy = torch.special.entr(probs).sum(dim=-1)
            accept = accept_by_entropy_bound(entropy, entropy_bound)
            noise = torch.randint(0, vocab_noise, (b, block), generator=generator, device=model.device)
            new_canvas = torch.where(accept, denoised, noise)  # re-noise everything not accepted
            if sc_logits is not None and bool(finished.any()):
                keep = finished[:, None]
                new_argmax = torch.where(keep, argmax_canvas, new_argmax)
                new_canvas = torch.where(keep, canvas, new_canvas)
                processed = torch.where(keep[..., None], sc_logits.float(), processed)
            if tokens_per_step is None:
                # Stable: the argmax canvas equals each of the last `stability_threshold` ones.
                if stability_threshold == 0:
                    stable = torch.ones_like(finished)
                elif len(history) < stability_threshold:
                    stable = torch.zeros_like(finished)
                else:
                    stable = torch.stack(history).eq(new_argmax[None]).all(dim=-1).all(dim=0)
                if stability_threshold:
                    history = (history + [new_argmax])[-stability_threshold:]
                finished |= stable & (entropy.mean(dim=-1) < confidence_threshold)
            accepted.append(float(accept.sum(dim=-1).float().mean()))
            argmax_canvas, canvas = new_argmax, new_canvas
            sc_logits = processed.to(model.dtype)
            n += 1
            if bool(finished.all()):
                break
        out[:, c * block:(c + 1) * block] = argmax_canvas
        steps.append(n)
        if c + 1 < n_canvases or commit_last_block:
            engine.commit(cache, argmax_canvas, causal=True)
        if progress:
            progress((c + 1) * block)
    return DecodeResult(out, steps, accepted)


def decode_full(engine: Engine, prompt: torch.Tensor, gen_len: int, *, block: int, cache_mode: str = "none",
                commit_rule: str = "schedule", threshold: float = 0.9, tokens_per_step: int = 4,
                progress: Progress | None = None) -> DecodeResult:
    """Full-attention masked diffusion, blocks after the prompt (LLaDA `generate`, Fast-dLLM v1).

    cache_mode 'none': every step is a full bidirectional forward over prompt + all blocks.
    cache_mode 'prefix': at each block start a full forward refreshes every position's K/V and
    gives the block's first update; later steps run block + later blocks against the cached
    prefix, which no longer matches what a full forward would compute once tokens are committed.
    """
    if cache_mode not in ("none", "prefix"):
        raise ValueError(f"cache_mode: 'none' or 'prefix', got {cache_mode!r}")
    model = engine.model
    b, p = prompt.shape
    end = p + math.ceil(gen_len / block) * block
    canvas = torch.full((b, end), model.mask_id, dtype=torch.long, device=model.device)
    canvas[:, :p] = prompt
    cache = model.new_cache(b, end) if cache_mode == "prefix" else None
    rule = _commit_rule(commit_rule, threshold, tokens_per_step)
    steps: list[int] = []
    for start in range(p, end, block):
        stop = start + block
        n = 0
        while bool((canvas[:, start:stop] == model.mask_id).any()):
            if cache is None:
                logits = engine.full(canvas)[:, start:stop]
            elif n == 0:
                logits = engine.full(canvas, cache=cache)[:, start:stop]
                cache.truncate(start)
            else:
                logits = engine.prefix_step(cache, canvas[:, start:])[:, :block]
            canvas[:, start:stop] = _unmask(canvas[:, start:stop], logits, model.mask_id, model.pad_id, rule)
            n += 1
        steps.append(n)
        if progress:
            progress(stop - p)
    return DecodeResult(canvas[:, p:end], steps)
