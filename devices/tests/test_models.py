import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from devices.models import CloudOffer, Device

pytestmark = pytest.mark.django_db


def gpu(**overrides) -> Device:
    fields = dict(name="Test GPU", slug="test-gpu", vendor="NVIDIA", kind="gpu", memory_gb=24, memory_bandwidth_gbs=1000,
                  bf16_tflops=100, source="test")
    fields.update(overrides)
    return Device(**fields)


def test_it_rejects_negative_bandwidth_with_a_clear_message():
    with pytest.raises(ValidationError) as caught:
        gpu(memory_bandwidth_gbs=-5).full_clean()
    assert caught.value.message_dict["memory_bandwidth_gbs"] == [
        "Memory bandwidth (GB/s) must be greater than 0 (leave it empty if unknown)."
    ]


def test_the_database_refuses_negative_bandwidth():
    with pytest.raises(IntegrityError), transaction.atomic():
        gpu(memory_bandwidth_gbs=-5).save()


def test_it_rejects_a_usable_fraction_above_one():
    with pytest.raises(ValidationError) as caught:
        gpu(usable_memory_fraction=1.5).full_clean()
    assert "usable_memory_fraction" in caught.value.message_dict


def test_it_gives_apple_unified_memory_a_gpu_share():
    device = Device.objects.get(name="Apple M2 Ultra")
    assert device.usable_memory_fraction == 0.75
    assert device.usable_memory_gb == pytest.approx(144.0)


def test_it_rejects_an_offer_with_a_zero_price():
    offer = CloudOffer(provider="P", device_label="H100", gpu_count=1, usd_per_hour=0, tier="spot", as_of="2026-01-01", source="t")
    with pytest.raises(ValidationError) as caught:
        offer.full_clean()
    assert caught.value.message_dict["usd_per_hour"] == ["The hourly price must be greater than 0."]


def test_it_prices_an_offer_per_gpu_hour():
    offer = CloudOffer(provider="P", device_label="8x H100", gpu_count=8, usd_per_hour=24.0, tier="on-demand", as_of="x", source="t")
    assert offer.usd_per_gpu_hour == 3.0
