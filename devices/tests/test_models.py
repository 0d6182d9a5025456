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


def test_it_reads_an_offers_price_as_per_gpu_hour_already():
    # cloud_offers.csv prices are per GPU-hour: an 8x H100 offer at $3.00 is $3.00 per GPU-hour
    # (not 3.00 / 8 = $0.375), and the whole 8-GPU node costs 8 x 3.00 = $24.00 an hour.
    offer = CloudOffer(provider="P", device_label="8x H100", gpu_count=8, usd_per_hour=3.0, tier="on-demand", as_of="x", source="t")
    assert offer.usd_per_gpu_hour == 3.0
    assert offer.usd_per_offer_hour == 24.0


@pytest.mark.parametrize("value", [float("inf"), float("nan")])
def test_it_rejects_a_memory_size_that_is_not_a_finite_number(value):
    with pytest.raises(ValidationError) as caught:
        gpu(memory_gb=value).full_clean()
    assert caught.value.message_dict["memory_gb"] == [f"Memory (GB) must be a finite number, not {value}."]


@pytest.mark.parametrize("value", [float("inf"), pytest.param(float("nan"), marks=pytest.mark.postgres)])
def test_the_database_refuses_a_memory_size_that_is_not_finite(value):
    with pytest.raises(IntegrityError), transaction.atomic():
        gpu(memory_gb=value).save()


def test_the_database_refuses_an_infinite_hourly_price():
    device = gpu()
    device.save()
    with pytest.raises(IntegrityError), transaction.atomic():
        CloudOffer.objects.create(provider="p", device_label="x", device=device, usd_per_hour=float("inf"),
                                  tier="on-demand", as_of="2025-01-01", source="test")


@pytest.mark.parametrize("options", [[0], [-8], ["16"], [float("inf")], [True], {"a": 1}])
def test_it_rejects_memory_options_that_are_not_positive_sizes(options):
    with pytest.raises(ValidationError) as caught:
        gpu(memory_options_gb=options).full_clean()
    assert "memory_options_gb" in caught.value.message_dict


def test_a_variant_links_to_a_chip_not_to_another_variant():
    chip = gpu(name="Chip", slug="chip", kind="apple", vendor="Apple")
    chip.save()
    variant = gpu(name="Chip (8-core GPU)", slug="chip-8", kind="apple", vendor="Apple", chip=chip, gpu_cores=8)
    variant.full_clean()
    variant.save()
    nested = gpu(name="Chip (8-core GPU) again", slug="chip-8b", kind="apple", vendor="Apple", chip=variant)
    with pytest.raises(ValidationError) as caught:
        nested.full_clean()
    assert caught.value.message_dict["chip"] == ["Chip (8-core GPU) is itself a variant; link to its chip, Chip."]
