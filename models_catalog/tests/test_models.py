import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat

pytestmark = pytest.mark.django_db


def dense(**overrides) -> ModelArchitecture:
    fields = dict(name="Test 8B", slug="test-8b", total_params_b=8.0, n_layers=32, hidden_size=4096, n_heads=32,
                  n_kv_heads=8, head_dim=128, vocab_size=128256, source="test")
    fields.update(overrides)
    return ModelArchitecture(**fields)


def errors_of(instance) -> dict:
    with pytest.raises(ValidationError) as caught:
        instance.full_clean()
    return caught.value.message_dict


def test_it_accepts_a_consistent_dense_model():
    dense().full_clean()


def test_it_rejects_more_active_than_total_parameters():
    errors = errors_of(dense(active_params_b=9.0))
    assert errors["active_params_b"] == ["Active parameters (9B) cannot exceed total parameters (8B)."]


def test_it_rejects_more_active_experts_than_experts():
    errors = errors_of(dense(n_experts=8, n_experts_active=16, moe_intermediate_size=1024, active_params_b=2.0))
    assert errors["n_experts_active"] == ["Active experts (16) cannot exceed routed experts (8)."]


def test_it_rejects_kv_heads_that_do_not_divide_heads():
    assert "multiple of KV heads" in errors_of(dense(n_kv_heads=5))["n_kv_heads"][0]


def test_it_rejects_a_zero_parameter_count_with_a_hint_to_leave_it_empty():
    errors = errors_of(dense(vision_params_b=0.0))
    assert "leave it empty if unknown" in errors["vision_params_b"][0]


def test_a_zero_field_is_named_by_its_label_with_its_capitals():
    errors = errors_of(dense(vision_params_b=0.0, kv_lora_rank=0))
    assert errors["vision_params_b"] == ["Vision encoder parameters (B) must be greater than 0 (leave it empty if unknown)."]
    assert errors["kv_lora_rank"] == ["MLA latent size must be greater than 0 (leave it empty if unknown)."]


def test_a_specific_reason_wins_over_the_positive_field_rule():
    # tokens_per_forward 0 breaks both "at least one per forward" and "> 0": the first is the reason shown.
    model = dense(generation_mode="block_diffusion", diffusion_attention="block_causal", tokens_per_forward=0)
    assert errors_of(model)["tokens_per_forward"] == ["At least one token is committed per forward."]


def test_it_requires_a_diffusion_family_for_block_diffusion_models():
    errors = errors_of(dense(generation_mode="block_diffusion"))
    assert "attention family" in errors["diffusion_attention"][0]


def test_it_rejects_more_tokens_per_forward_than_the_block():
    model = dense(generation_mode="block_diffusion", diffusion_attention="block_causal", block_size=32, tokens_per_forward=40)
    assert "cannot exceed the block size" in errors_of(model)["tokens_per_forward"][0]


def test_the_database_refuses_active_above_total_even_without_clean():
    with pytest.raises(IntegrityError), transaction.atomic():
        dense(active_params_b=9.0).save()


def test_the_database_refuses_more_active_experts_than_experts():
    with pytest.raises(IntegrityError), transaction.atomic():
        dense(n_experts=8, n_experts_active=9).save()


def test_it_rejects_bits_per_weight_out_of_range():
    quant = QuantizationFormat(name="Q0", slug="q0", family="gguf", bits_per_weight=0, compute_dtype="fp16", source="t")
    assert "greater than 0" in errors_of(quant)["bits_per_weight"][0]
    with pytest.raises(IntegrityError), transaction.atomic():
        quant.save()


def test_it_rejects_unknown_native_device_kinds():
    quant = QuantizationFormat(name="Qx", slug="qx", family="gguf", bits_per_weight=4.5, compute_dtype="fp16",
                               native_device_kinds=["gpu", "toaster"], source="t")
    assert "native_device_kinds" in errors_of(quant)


def test_it_blends_api_prices_seventy_thirty():
    price = ApiPrice(provider="P", model_label="M", usd_per_1m_input=1.0, usd_per_1m_output=3.0, as_of="2026-01-01", source="t")
    assert price.blended_usd_per_1m == pytest.approx(0.7 * 1.0 + 0.3 * 3.0)


def test_it_rejects_negative_api_prices():
    price = ApiPrice(provider="P", model_label="M", usd_per_1m_input=-1.0, usd_per_1m_output=3.0, as_of="x", source="t")
    assert errors_of(price)["usd_per_1m_input"] == ["A price cannot be negative."]
