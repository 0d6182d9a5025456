"""Model architectures, quantization formats, runtimes and API prices."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

from estimator.core.schema import COMPUTE_DTYPES, DEVICE_KINDS
from hwfit.catalog_base import FLOAT_MAX, SourcedRecord, positive, positive_constraints, positive_errors


class GenerationMode(models.TextChoices):
    AUTOREGRESSIVE = "autoregressive", "Autoregressive"
    BLOCK_DIFFUSION = "block_diffusion", "Block diffusion"


class DiffusionAttention(models.TextChoices):
    NONE = "", "— (autoregressive)"
    BLOCK_CAUSAL = "block_causal", "Block-causal (exact prefix cache)"
    FULL = "full", "Full attention (approximate, refreshed cache)"


_MODEL_POSITIVE = (
    "total_params_b", "active_params_b", "embedding_params_b", "vision_params_b", "n_layers",
    "hidden_size", "n_heads", "n_kv_heads", "head_dim", "intermediate_size", "moe_intermediate_size",
    "n_experts", "n_experts_active", "vocab_size", "max_context", "sliding_window", "n_global_layers",
    "global_kv_heads", "global_head_dim", "kv_lora_rank", "qk_rope_head_dim", "block_size",
    "tokens_per_forward",
)


_MODEL_FLOATS = ("total_params_b", "active_params_b", "embedding_params_b", "vision_params_b", "tokens_per_forward")


class ModelArchitecture(SourcedRecord):
    """A language model's architecture: what the estimator needs to size and time it.

    Parameter counts are in billions. For MoE models `total_params_b` counts every expert (all
    resident in memory) and `active_params_b` those used per token.
    """

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    family = models.CharField(max_length=60, blank=True, default="")
    org = models.CharField("organisation", max_length=80, blank=True, default="")
    hf_repo = models.CharField("Hugging Face repo", max_length=160, blank=True, default="")
    license = models.CharField(max_length=300, blank=True, default="")
    generation_mode = models.CharField(max_length=20, choices=GenerationMode.choices, default=GenerationMode.AUTOREGRESSIVE)
    diffusion_attention = models.CharField(max_length=20, choices=DiffusionAttention.choices, blank=True, default="")

    total_params_b = models.FloatField("total parameters (B)")
    active_params_b = models.FloatField("active parameters (B)", null=True, blank=True,
                                        help_text="Per token; empty for a dense model (= total).")
    embedding_params_b = models.FloatField("embedding/LM-head parameters (B)", null=True, blank=True)
    tied_embeddings = models.BooleanField(null=True, blank=True, help_text="Empty = not stated.")
    vision_params_b = models.FloatField("vision encoder parameters (B)", null=True, blank=True)

    n_layers = models.PositiveIntegerField("layers", null=True, blank=True)
    hidden_size = models.PositiveIntegerField(null=True, blank=True)
    n_heads = models.PositiveIntegerField("attention heads", null=True, blank=True)
    n_kv_heads = models.PositiveIntegerField("KV heads", null=True, blank=True)
    head_dim = models.PositiveIntegerField(null=True, blank=True)
    intermediate_size = models.PositiveIntegerField("FFN size", null=True, blank=True)
    moe_intermediate_size = models.PositiveIntegerField("expert FFN size", null=True, blank=True)
    n_experts = models.PositiveIntegerField("routed experts", null=True, blank=True)
    n_experts_active = models.PositiveIntegerField("active experts", null=True, blank=True)
    n_shared_experts = models.PositiveIntegerField("shared experts", null=True, blank=True)
    n_dense_layers = models.PositiveIntegerField("leading dense layers", null=True, blank=True)
    vocab_size = models.PositiveIntegerField(null=True, blank=True)
    max_context = models.PositiveIntegerField(null=True, blank=True)
    sliding_window = models.PositiveIntegerField(null=True, blank=True)
    n_global_layers = models.PositiveIntegerField("global-attention layers", null=True, blank=True)
    global_kv_heads = models.PositiveIntegerField("KV heads of global layers", null=True, blank=True)
    global_head_dim = models.PositiveIntegerField("head dim of global layers", null=True, blank=True)
    global_kv_shared = models.BooleanField("global layers share K and V", default=False,
                                           help_text="The global layers cache one tensor for keys and values (V = K).")
    kv_lora_rank = models.PositiveIntegerField("MLA latent size", null=True, blank=True)
    qk_rope_head_dim = models.PositiveIntegerField("MLA RoPE key dim", null=True, blank=True)
    attention_pattern = models.TextField(blank=True, default="")
    block_size = models.PositiveIntegerField("diffusion block size", null=True, blank=True)
    tokens_per_forward = models.FloatField("tokens committed per forward", null=True, blank=True)
    self_conditioning = models.BooleanField(default=False)
    benchmark_scores = models.JSONField(default=dict, blank=True,
                                        help_text='Optional, e.g. {"MMLU": 71.2}; each with its source in notes.')

    class Meta:
        ordering = ["name"]
        constraints = [
            *positive_constraints("model", _MODEL_POSITIVE, finite=_MODEL_FLOATS),
            models.CheckConstraint(condition=Q(active_params_b__isnull=True) | Q(active_params_b__lte=F("total_params_b")),
                                   name="model_active_le_total"),
            models.CheckConstraint(condition=Q(n_experts_active__isnull=True) | Q(n_experts__isnull=True)
                                   | Q(n_experts_active__lte=F("n_experts")), name="model_active_experts_le_experts"),
            models.CheckConstraint(condition=Q(n_kv_heads__isnull=True) | Q(n_heads__isnull=True)
                                   | Q(n_kv_heads__lte=F("n_heads")), name="model_kv_heads_le_heads"),
            models.CheckConstraint(condition=Q(n_global_layers__isnull=True) | Q(n_layers__isnull=True)
                                   | Q(n_global_layers__lte=F("n_layers")), name="model_global_layers_le_layers"),
            models.CheckConstraint(condition=Q(generation_mode="autoregressive", diffusion_attention="")
                                   | Q(generation_mode="block_diffusion", diffusion_attention__in=["block_causal", "full"]),
                                   name="model_diffusion_attention_matches_mode"),
            models.CheckConstraint(condition=Q(tokens_per_forward__isnull=True) | Q(tokens_per_forward__gte=1),
                                   name="model_tokens_per_forward_ge_1"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("admin:models_catalog_modelarchitecture_change", args=[self.pk])

    @property
    def is_moe(self) -> bool:
        return bool(self.n_experts)

    def clean(self) -> None:
        super().clean()
        if self.benchmark_scores is None:
            self.benchmark_scores = {}
        errors: dict[str, str] = {}
        if self.total_params_b is not None and self.total_params_b <= 0:
            errors["total_params_b"] = "Total parameters must be greater than 0."
        if self.active_params_b is not None and self.total_params_b is not None and self.active_params_b > self.total_params_b:
            errors["active_params_b"] = (
                f"Active parameters ({self.active_params_b:g}B) cannot exceed total parameters ({self.total_params_b:g}B)."
            )
        if self.n_experts_active is not None and self.n_experts is not None and self.n_experts_active > self.n_experts:
            errors["n_experts_active"] = (
                f"Active experts ({self.n_experts_active}) cannot exceed routed experts ({self.n_experts})."
            )
        if self.n_experts_active and not self.n_experts:
            errors["n_experts"] = "A model with active experts needs its number of routed experts."
        if self.n_kv_heads and self.n_heads:
            if self.n_kv_heads > self.n_heads:
                errors["n_kv_heads"] = f"KV heads ({self.n_kv_heads}) cannot exceed attention heads ({self.n_heads})."
            elif self.n_heads % self.n_kv_heads:
                errors["n_kv_heads"] = f"Attention heads ({self.n_heads}) must be a multiple of KV heads ({self.n_kv_heads})."
        if self.n_global_layers and self.n_layers and self.n_global_layers > self.n_layers:
            errors["n_global_layers"] = f"Global layers ({self.n_global_layers}) cannot exceed layers ({self.n_layers})."
        if self.n_dense_layers and self.n_layers and self.n_dense_layers > self.n_layers:
            errors["n_dense_layers"] = f"Dense layers ({self.n_dense_layers}) cannot exceed layers ({self.n_layers})."
        if self.generation_mode == GenerationMode.BLOCK_DIFFUSION and not self.diffusion_attention:
            errors["diffusion_attention"] = "A block-diffusion model needs its attention family (block-causal or full)."
        if self.generation_mode == GenerationMode.AUTOREGRESSIVE and self.diffusion_attention:
            errors["diffusion_attention"] = "An autoregressive model has no diffusion attention family."
        if self.tokens_per_forward is not None:
            if self.tokens_per_forward < 1:
                errors["tokens_per_forward"] = "At least one token is committed per forward."
            elif self.block_size and self.tokens_per_forward > self.block_size:
                errors["tokens_per_forward"] = (
                    f"Tokens per forward ({self.tokens_per_forward:g}) cannot exceed the block size ({self.block_size})."
                )
        errors = positive_errors(self, _MODEL_POSITIVE) | errors  # a reason found above wins
        if not isinstance(self.benchmark_scores, dict):
            errors["benchmark_scores"] = 'Benchmark scores must be an object such as {"MMLU": 71.2}.'
        if errors:
            raise ValidationError(errors)


class QuantFamily(models.TextChoices):
    GGUF = "gguf", "GGUF"
    GPTQ = "gptq", "GPTQ"
    AWQ = "awq", "AWQ"
    FP8 = "fp8", "FP8"
    NVFP4 = "nvfp4", "NVFP4"
    MXFP4 = "mxfp4", "MXFP4"
    BITSANDBYTES = "bitsandbytes", "bitsandbytes"
    FULL = "full", "Full precision"


class QualityTier(models.TextChoices):
    REFERENCE = "reference", "Reference"
    NEAR_LOSSLESS = "near-lossless", "Near-lossless"
    GOOD = "good", "Good"
    FAIR = "fair", "Fair"
    POOR = "poor", "Poor"
    UNKNOWN = "unknown", "Unknown (no published delta)"


class QuantizationFormat(SourcedRecord):
    """How weights are stored (effective bits per weight) and what the kernels compute in."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=80, unique=True)
    family = models.CharField(max_length=20, choices=QuantFamily.choices)
    bits_per_weight = models.FloatField(help_text="Effective bits per weight, scales included.")
    bpw_basis = models.CharField("bits-per-weight basis", max_length=300, blank=True, default="")
    compute_dtype = models.CharField(max_length=8, choices=[(d, d.upper()) for d in COMPUTE_DTYPES])
    compute_note = models.TextField(blank=True, default="")
    ppl_delta = models.FloatField("published perplexity delta", null=True, blank=True)
    quality_note = models.TextField(blank=True, default="")
    quality_tier = models.CharField(max_length=20, choices=QualityTier.choices, default=QualityTier.UNKNOWN)
    native_device_kinds = models.JSONField(default=list, blank=True,
                                           help_text=f"Device kinds that run it natively: any of {', '.join(DEVICE_KINDS)}.")
    hardware_support_note = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-bits_per_weight", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(bits_per_weight__gt=0) & Q(bits_per_weight__lte=32),
                                   name="quant_bits_per_weight_range"),
            models.CheckConstraint(condition=Q(ppl_delta__isnull=True) | Q(ppl_delta__gte=-FLOAT_MAX, ppl_delta__lte=FLOAT_MAX),
                                   name="quant_ppl_delta_finite"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.native_device_kinds is None:
            self.native_device_kinds = []
        errors: dict[str, str] = {}
        if self.bits_per_weight is not None and not (0 < self.bits_per_weight <= 32):
            errors["bits_per_weight"] = "Bits per weight must be greater than 0 and at most 32."
        kinds = self.native_device_kinds
        if not isinstance(kinds, list) or any(kind not in DEVICE_KINDS for kind in kinds):
            errors["native_device_kinds"] = f"Give a list of device kinds from: {', '.join(DEVICE_KINDS)}."
        if errors:
            raise ValidationError(errors)


class Runtime(SourcedRecord):
    """The software that runs a model. Efficiencies differ per runtime; calibration transfers only within one."""

    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=40, unique=True)
    homepage = models.URLField(blank=True, default="")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ApiPrice(SourcedRecord):
    """A hosted API's price for a model, per million tokens, as published on `as_of`."""

    provider = models.CharField(max_length=80)
    model_label = models.CharField("model (as the provider names it)", max_length=200)
    model = models.ForeignKey(ModelArchitecture, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="api_prices", help_text="The catalog model, when it is one.")
    usd_per_1m_input = models.FloatField("$ / 1M input tokens")
    usd_per_1m_output = models.FloatField("$ / 1M output tokens")
    as_of = models.CharField(max_length=120, help_text="As published (a date or the source's wording).")
    as_of_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["provider", "model_label"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "model_label"], name="api_price_unique_provider_model"),
            models.CheckConstraint(condition=Q(usd_per_1m_input__gte=0, usd_per_1m_input__lte=FLOAT_MAX)
                                   & Q(usd_per_1m_output__gte=0, usd_per_1m_output__lte=FLOAT_MAX),
                                   name="api_price_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} · {self.model_label}"

    @property
    def blended_usd_per_1m(self) -> float:
        """70% input / 30% output, the blend DESIGN.md uses to compare with self-hosting."""
        return 0.7 * self.usd_per_1m_input + 0.3 * self.usd_per_1m_output

    def clean(self) -> None:
        super().clean()
        errors = {}
        for field in ("usd_per_1m_input", "usd_per_1m_output"):
            value = getattr(self, field)
            if value is not None and value < 0:
                errors[field] = "A price cannot be negative."
        if errors:
            raise ValidationError(errors)


__all__ = ["ModelArchitecture", "QuantizationFormat", "Runtime", "ApiPrice", "positive"]
