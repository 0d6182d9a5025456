"""The configuration of one engine run (pure Python; JSON-able; no torch).

`RunConfig.resolved()` fills every mode-dependent default, so the record of a run holds the
exact configuration that ran, not the partial one that was asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .arch import Arch, resolve_architecture, scale_architecture
from .presets import get_preset

MODES = ("ar", "block_mask", "block_uniform", "full_nocache", "full_prefix_cache")
DTYPE_NAMES = ("fp32", "bf16", "fp16", "fp64")

# Mode defaults: SDAR-like [MASK] block diffusion aligns blocks to absolute positions and
# commits bidirectionally; DiffusionGemma starts canvases at the prompt end, encodes causally
# and never encodes its last canvas.
_MODE_DEFAULTS: dict[str, dict[str, Any]] = {
    "ar": {"commit_rule": "none", "block_alignment": "", "commit_attention": "", "commit_last_block": False},
    "block_mask": {"commit_rule": "schedule", "block_alignment": "absolute", "commit_attention": "block",
                   "commit_last_block": True},
    "block_uniform": {"commit_rule": "entropy", "block_alignment": "prompt_end", "commit_attention": "causal",
                      "commit_last_block": False},
    "full_nocache": {"commit_rule": "schedule", "block_alignment": "prompt_end", "commit_attention": "",
                     "commit_last_block": False},
    "full_prefix_cache": {"commit_rule": "schedule", "block_alignment": "prompt_end", "commit_attention": "",
                          "commit_last_block": False},
}
_RULES = {"block_mask": ("threshold", "schedule"), "block_uniform": ("entropy", "schedule"),
          "full_nocache": ("threshold", "schedule"), "full_prefix_cache": ("threshold", "schedule"),
          "ar": ("none",)}


@dataclass
class RunConfig:
    """One engine run. `arch` is a preset name or a mapping with the catalog's field names.

    commit_rule: block_mask / full_*: 'threshold' (confidence >= threshold, top-1 forced) or
    'schedule' (tokens_per_step per step); block_uniform: 'entropy' (entropy bound, adaptive
    stop, at most max_denoising_steps) or 'schedule' (exactly ceil(block/tokens_per_step) steps).
    None fields take the mode's default in `resolved()`.
    """

    arch: str | dict[str, Any] = "tiny-moe"
    overrides: dict[str, Any] = field(default_factory=dict)
    scale_layers: float = 1.0
    scale_width: float = 1.0
    scale_experts: float = 1.0
    scale_vocab: float = 1.0
    mode: str = "block_mask"
    commit_rule: str | None = None
    threshold: float = 0.9
    tokens_per_step: int = 4
    block_size: int | None = None
    block_alignment: str | None = None
    commit_attention: str | None = None
    commit_last_block: bool | None = None
    prompt_len: int = 32
    gen_len: int = 64
    batch: int = 1
    dtype: str = "fp32"
    device: str = "auto"
    seed: int = 0
    max_denoising_steps: int = 48
    entropy_bound: float = 0.1
    t_min: float = 0.4
    t_max: float = 0.8
    stability_threshold: int = 1
    confidence_threshold: float = 0.005
    moe_impl: str = "loop"
    warmup: bool = True
    record_passes: bool = True
    record_tokens: bool = False

    @classmethod
    def from_any(cls, value: RunConfig | Mapping[str, Any]) -> RunConfig:
        """A RunConfig from itself or a mapping (unknown keys are an error, naming them)."""
        if isinstance(value, RunConfig):
            return value
        known = {f.name for f in fields(cls)}
        unknown = set(value) - known
        if unknown:
            raise ValueError(f"unknown run options: {', '.join(sorted(unknown))}")
        return cls(**dict(value))

    def scale(self, factor: float) -> RunConfig:
        """The same run with layers, width, experts and vocabulary all scaled by `factor`."""
        return replace(self, scale_layers=factor, scale_width=factor, scale_experts=factor, scale_vocab=factor)

    def architecture(self) -> Arch:
        """The resolved (and scaled) architecture this run builds."""
        base = get_preset(self.arch) if isinstance(self.arch, str) else dict(self.arch)
        base.update(self.overrides)
        return scale_architecture(resolve_architecture(base), layers=self.scale_layers,
                                  width=self.scale_width, experts=self.scale_experts, vocab=self.scale_vocab)

    def resolved(self) -> RunConfig:
        """Defaults filled and values checked; raises ValueError naming the bad field."""
        if self.mode not in MODES:
            raise ValueError(f"mode: one of {', '.join(MODES)}, got {self.mode!r}")
        if self.dtype not in DTYPE_NAMES:
            raise ValueError(f"dtype: one of {', '.join(DTYPE_NAMES)}, got {self.dtype!r}")
        if self.moe_impl not in ("loop", "grouped"):
            raise ValueError(f"moe_impl: 'loop' or 'grouped', got {self.moe_impl!r}")
        for name in ("prompt_len", "gen_len", "batch", "tokens_per_step", "max_denoising_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be >= 1")
        arch = self.architecture()
        defaults = _MODE_DEFAULTS[self.mode]
        out = replace(
            self,
            commit_rule=self.commit_rule if self.commit_rule is not None else defaults["commit_rule"],
            block_alignment=self.block_alignment if self.block_alignment is not None else defaults["block_alignment"],
            commit_attention=(self.commit_attention if self.commit_attention is not None
                              else defaults["commit_attention"]),
            commit_last_block=(self.commit_last_block if self.commit_last_block is not None
                               else defaults["commit_last_block"]),
            block_size=self.block_size or arch.block_size or 32,
        )
        if self.mode == "ar":
            out = replace(out, commit_rule="none", block_alignment="", commit_attention="", commit_last_block=False)
        if out.commit_rule not in _RULES[self.mode]:
            raise ValueError(f"commit_rule: for mode {self.mode} one of {', '.join(_RULES[self.mode])}, "
                             f"got {out.commit_rule!r}")
        if self.mode == "block_mask":
            if out.block_alignment not in ("absolute", "prompt_end"):
                raise ValueError("block_alignment: 'absolute' or 'prompt_end'")
            if out.commit_attention not in ("block", "causal"):
                raise ValueError("commit_attention: 'block' or 'causal'")
        if self.mode == "block_uniform" and (out.block_alignment, out.commit_attention) != ("prompt_end", "causal"):
            raise ValueError("block_uniform: canvases start at the prompt end and are encoded causally "
                             "(block_alignment 'prompt_end', commit_attention 'causal')")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
