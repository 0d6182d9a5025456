"""The result objects of the estimate and compatibility endpoints, for the API's schema.

Documentation only: the answers are built by `estimator.services.result_records` as plain dicts
(a batch of 1,000 results is not pushed through 1,000 serializers); these serializers describe
them, field by field, in the OpenAPI schema (estimator/api/views.py's `extend_schema`).
"""

from __future__ import annotations

from rest_framework import serializers

from estimator import services


def _float(help_text: str = "") -> serializers.FloatField:
    return serializers.FloatField(read_only=True, allow_null=True, help_text=help_text)


def _int(help_text: str = "") -> serializers.IntegerField:
    return serializers.IntegerField(read_only=True, allow_null=True, help_text=help_text)


def _str(help_text: str = "") -> serializers.CharField:
    return serializers.CharField(read_only=True, allow_null=True, help_text=help_text)


class RecordRefSerializer(serializers.Serializer):
    slug = _str("Catalog slug; null for an inline object.")
    name = serializers.CharField(read_only=True)
    inline = serializers.BooleanField(read_only=True)


class ResultWorkloadSerializer(serializers.Serializer):
    devices_asked = _int("Devices the scenario asked about (device_count, default 1).")
    context_tokens = _int()
    prompt_tokens = _int()
    gen_tokens = _int()
    decode_context_tokens = _int("Cached tokens each decode step attends to.")
    batch = _int()
    block_size = _int("Diffusion models only.")
    steps_per_block = _float("Diffusion models only: denoising forwards per block, the mean over blocks "
                             "(block size / tokens per forward) unless the scenario set it.")
    kv_cache_dtype = _str()
    device_count = _int("Devices used: those asked for, or those a multi_device verdict needs.")
    parallel = _str("none | tensor | layers")


class MemorySerializer(serializers.Serializer):
    total_bytes = _float("Everything below except usable/headroom.")
    weights_bytes = _float()
    weights_embedding_bytes = _float()
    weights_dense_bytes = _float()
    weights_experts_bytes = _float()
    vision_bytes = _float()
    kv_cache_bytes = _float()
    activations_bytes = _float()
    logits_bytes = _float()
    overhead_bytes = _float("Runtime context and workspace.")
    usable_bytes = _float("What the device lets a model use.")
    headroom_bytes = _float("usable - total; negative = short.")


class SpeedSerializer(serializers.Serializer):
    decode_tokens_per_s = _float()
    decode_bound = _str()
    prefill_tokens_per_s = _float()
    prefill_bound = _str()
    prefill_s = _float()
    diffusion_tokens_per_s = _float()
    diffusion_end_to_end_tokens_per_s = _float("Including the prompt's prefill.")
    diffusion_bound = _str()
    diffusion_s = _float()
    generation_tokens_per_s_batch1 = _float("One request: the speed the grade is based on.")
    max_batch = _int("Largest batch that fits.")
    max_batch_tokens_per_s = _float()
    max_batch_bound = _str()


class CostSerializer(serializers.Serializer):
    usd_per_kwh = _float()
    power_w = _float("Board power of the devices used (an upper bound).")
    energy_usd_per_mtok = _float("Energy $ per 1M generated tokens, one request.")
    energy_usd_per_mtok_max_batch = _float()
    rental_usd_per_hour = _float("Cheapest catalog cloud offer for the devices used.")
    rental_usd_per_mtok = _float()
    rental_usd_per_mtok_max_batch = _float()
    api_usd_per_mtok = _float("Cheapest hosted API for the model, 70% input / 30% output.")
    rental_provider = _str("Provider of the rental price.")
    rental_tier = _str("on-demand | spot | reserved")
    rental_as_of = _str("When the rental price was published.")
    rental_offer_gpu_count = _str("GPUs in the offer (its price is per GPU-hour).")
    api_provider = _str("Provider of the API price.")
    api_as_of = _str("When the API price was published.")


class WorkingSerializer(serializers.Serializer):
    pass_s = _float("Time of the figure `tokens_per_s` is based on: one decode pass, the whole prefill, or the "
                    "diffusion generation.")
    decode_pass_s = _float("One decode pass: max(compute, memory) + overhead.")
    decode_compute_s = _float("FLOPs / (peak x eff_c).")
    decode_memory_s = _float("Bytes / (bandwidth x eff_m).")
    decode_overhead_s = _float("Fixed cost per pass and communication.")
    decode_flops = _float("FLOPs of one decode pass (whole batch, all devices).")
    decode_bytes = _float("Bytes one decode pass reads and writes: weights, KV cache, logits.")
    prefill_flops = _float("FLOPs of the whole prefill.")
    prefill_bytes = _float("Bytes of the whole prefill.")
    prefill_passes = _float("Forward passes (chunks) of the prefill.")
    diffusion_flops = _float("FLOPs of denoising gen_tokens: every step and commit forward.")
    diffusion_bytes = _float("Bytes of denoising gen_tokens: every step and commit forward.")
    diffusion_forwards = _float("Forward passes to denoise gen_tokens (steps and commits).")
    tokens_per_forward = _float("Diffusion: tokens committed per denoising forward (given, the model's, else 1).")
    tokens_per_forward_source = _str("Where that tokens per forward comes from.")
    tokens_per_forward_sensitivity = serializers.ListField(
        child=serializers.DictField(), read_only=True,
        help_text="Diffusion: generation tokens/s at 0.5x, 0.75x, 1x, 1.5x and 2x the tokens per forward "
                  "([{tokens_per_forward, tokens_per_s}]); empty for autoregressive models.")
    experts_touched_fraction = _float("MoE: share of routed experts a decode pass reads.")
    peak_flops = _float("Peak FLOP/s of the compute dtype.")
    peak_flops_source = _str("Catalog column the peak comes from.")
    bandwidth_bytes_per_s = _float()
    peak_flops_is_fallback = serializers.BooleanField(
        read_only=True, allow_null=True, help_text="The compute dtype's own peak is not published; another one is used.")
    vector_peak_flops = _float("FLOP/s of the vector ALUs: what a batch-1 decode (matrix-vector) and dequantisation run on.")
    vector_peak_source = _str("Catalog column of vector_peak_flops; empty = unknown (the decode is then memory-only, "
                              "an upper bound, with a doubled error band).")
    decode_compute_known = serializers.BooleanField(read_only=True, allow_null=True,
                                                    help_text="The decode's compute term has a peak to run on.")
    eff_m = _float("Share of peak bandwidth reached.")
    eff_c = _float("Share of peak FLOP/s reached.")
    eff_attn = _float("Share of peak FLOP/s reached by attention.")
    bandwidth_cap_bytes_per_s = _float("Bandwidth the runtime reaches at most (null when calibrated).")
    t_fixed_s = _float()
    dequant_class = _str()
    prior_group = _str("runtime|kind of the prior used, or 'calibration'.")
    error_band_prefill = _float()
    derived = serializers.ListField(child=serializers.CharField(), read_only=True,
                                    help_text="Documented rules that filled fields the catalog leaves empty "
                                              "(e.g. head_dim = hidden_size / n_heads).")


class EstimateResultSerializer(serializers.Serializer):
    model = RecordRefSerializer(read_only=True)
    quantization = RecordRefSerializer(read_only=True)
    device = RecordRefSerializer(read_only=True)
    runtime = serializers.CharField(read_only=True)
    mode = serializers.ChoiceField(choices=services.MODES, read_only=True)
    fits = serializers.BooleanField(read_only=True, allow_null=True,
                                    help_text="The whole model fits in the devices' usable memory; null = unknown.")
    verdict = serializers.CharField(read_only=True,
                                    help_text="fits | offload | multi_device | no_fit | unknown | unsupported")
    verdict_reason = _str("Why the verdict, in one sentence.")
    configuration_note = _str("Empty, or what the figures describe when it is not the device count asked about.")
    devices_needed = _int("Smallest tensor-parallel size that fits (up to 8).")
    layers_on_device = _int()
    format_supported = serializers.BooleanField(read_only=True)
    tokens_per_s = _float("The workload's figure (see `mode`); null when unknown or it does not run.")
    ttft_s = _float("Time to first token: prefill + first pass.")
    bound = _str("memory | compute | overhead")
    grade = serializers.CharField(read_only=True, help_text="SS, S, A, B, C, F or ? (unknown); a configuration of n > 1 "
                                                            "devices carries it: 'S\u00d74' is S on four devices.")
    calibrated = serializers.BooleanField(read_only=True)
    error_band = _float("Relative error of `tokens_per_s` (0.15 = ±15%).")
    accuracy = serializers.JSONField(read_only=True, allow_null=True, help_text=(
        "Measured runs of this device and runtime at this mode: n, p10_pct / median_pct / p90_pct of "
        "|estimate / measured - 1| in %, bias_pct (signed median); null when none are stored."))
    quality_tier = _str()
    context_within_window = serializers.BooleanField(
        read_only=True, allow_null=True,
        help_text="`context_tokens` is at most the model's max_context; null when the window is unknown. An "
                  "estimate that names a longer context is refused (400); a default one is flagged here.")
    workload = ResultWorkloadSerializer(read_only=True)
    memory = MemorySerializer(read_only=True)
    speed = SpeedSerializer(read_only=True)
    cost = CostSerializer(read_only=True)
    working = WorkingSerializer(read_only=True)


class EstimateBatchResultSerializer(serializers.Serializer):
    count = serializers.IntegerField(read_only=True)
    results = EstimateResultSerializer(many=True, read_only=True)


class CompatibilityPageSerializer(serializers.Serializer):
    count = serializers.IntegerField(read_only=True)
    next = serializers.URLField(read_only=True, allow_null=True)
    previous = serializers.URLField(read_only=True, allow_null=True)
    results = EstimateResultSerializer(many=True, read_only=True)
