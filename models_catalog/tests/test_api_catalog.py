"""/api/v1/models, quantizations, runtimes, api-prices: reads for everyone, writes for staff."""

import pytest

from hwfit.testing import source_counts
from hwfit.tests.api_fixtures import (  # noqa: F401
    api, api_plain_user, api_staff_user, plain_api, staff_api, staff_session_api, unthrottled,
)
from models_catalog.models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime

pytestmark = pytest.mark.django_db

NEW_MODEL = {
    "name": "Test 8B", "slug": "test-8b", "source": "test", "total_params_b": 8.0, "n_layers": 32,
    "hidden_size": 4096, "n_heads": 32, "n_kv_heads": 8, "head_dim": 128, "vocab_size": 128256,
}


def slugs(response) -> list[str]:
    return [row["slug"] for row in response.json()["results"]]


# --- Reading -------------------------------------------------------------------------------------

def test_it_lists_models_paginated_in_name_order(api):
    response = api.get("/api/v1/models/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 52
    assert len(body["results"]) == 50
    assert body["next"].endswith("/api/v1/models/?page=2")
    names = [row["name"] for row in body["results"]]
    assert names == sorted(names)


def test_it_returns_a_model_by_slug_with_the_catalog_field_names(api):
    response = api.get("/api/v1/models/qwen3-30b-a3b/")
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Qwen3 30B-A3B"
    assert (body["total_params_b"], body["n_experts"], body["n_experts_active"]) == (30.5, 128, 8)
    assert body["is_moe"] is True
    assert "id" not in body


def test_it_answers_404_for_an_unknown_slug(api):
    response = api.get("/api/v1/models/no-such-model/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No ModelArchitecture matches the given query."}


@pytest.mark.parametrize("path, table", [
    ("/api/v1/quantizations/", "quantizations"), ("/api/v1/runtimes/", "runtimes"), ("/api/v1/api-prices/", "api_prices"),
])
def test_it_lists_every_catalog(api, path, table):
    count = source_counts()[table]
    response = api.get(path, {"page_size": 100})
    assert response.status_code == 200
    assert response.json()["count"] == count
    assert len(response.json()["results"]) == count


def test_it_returns_a_quantization_and_a_runtime_by_slug(api):
    assert api.get("/api/v1/quantizations/q4-k-m/").json()["bits_per_weight"] == pytest.approx(4.8944)
    assert api.get("/api/v1/runtimes/llama-cpp/").json()["name"] == "llama.cpp"


def test_it_returns_an_api_price_by_id_with_its_model_slug_and_blend(api):
    price = ApiPrice.objects.filter(model__isnull=False).select_related("model").first()
    body = api.get(f"/api/v1/api-prices/{price.pk}/").json()
    assert body["id"] == price.pk
    assert body["model"] == price.model.slug
    assert body["blended_usd_per_1m"] == pytest.approx(0.7 * price.usd_per_1m_input + 0.3 * price.usd_per_1m_output)


def test_it_answers_404_for_an_api_price_id_that_is_not_a_number(api):
    assert api.get("/api/v1/api-prices/abc/").status_code == 404


# --- Filters, search, ordering, pagination -----------------------------------------------------------

def test_it_filters_models_by_generation_mode(api):
    response = api.get("/api/v1/models/", {"generation_mode": "block_diffusion"})
    assert response.json()["count"] == ModelArchitecture.objects.filter(generation_mode="block_diffusion").count() > 0
    assert {row["generation_mode"] for row in response.json()["results"]} == {"block_diffusion"}


def test_it_filters_models_by_family_whatever_the_case(api):
    response = api.get("/api/v1/models/", {"family": "qwen"})
    expected = set(ModelArchitecture.objects.filter(family="Qwen").values_list("slug", flat=True))
    assert expected and set(slugs(response)) == expected


def test_it_filters_models_by_a_parameter_range(api):
    response = api.get("/api/v1/models/", {"min_params": 30, "max_params": 35, "page_size": 100})
    totals = [row["total_params_b"] for row in response.json()["results"]]
    assert totals and all(30 <= total <= 35 for total in totals)
    assert len(totals) == ModelArchitecture.objects.filter(total_params_b__gte=30, total_params_b__lte=35).count()


def test_it_filters_mixtures_of_experts(api):
    response = api.get("/api/v1/models/", {"is_moe": "true", "page_size": 100})
    assert response.json()["count"] == ModelArchitecture.objects.filter(n_experts__isnull=False).count()
    assert all(row["n_experts"] for row in response.json()["results"])


def test_it_searches_models_by_name(api):
    assert set(slugs(api.get("/api/v1/models/", {"search": "mixtral"}))) == {"mixtral-8x7b"}


def test_it_orders_models_by_a_field_with_unknown_values_last(api):
    response = api.get("/api/v1/models/", {"ordering": "-active_params_b", "page_size": 100})
    actives = [row["active_params_b"] for row in response.json()["results"]]
    known = [value for value in actives if value is not None]
    assert known == sorted(known, reverse=True)
    assert actives == known + [None] * (len(actives) - len(known))


def test_it_breaks_ties_by_primary_key_so_pages_never_overlap(api):
    # Many quantizations share a family: ordering by family alone would leave ties.
    pages = [api.get("/api/v1/quantizations/", {"ordering": "family", "page_size": 7, "page": page}).json()
             for page in range(1, 6)]
    seen = [row["slug"] for page in pages for row in page["results"]]
    assert len(seen) == len(set(seen)) == source_counts()["quantizations"]
    ids = list(QuantizationFormat.objects.order_by("family", "pk").values_list("slug", flat=True))
    assert seen == ids


def test_it_caps_the_page_size(api):
    response = api.get("/api/v1/api-prices/", {"page_size": 100000})
    assert len(response.json()["results"]) == 52  # under the cap of 500


def test_it_answers_404_for_a_page_past_the_end(api):
    assert api.get("/api/v1/models/", {"page": 99}).status_code == 404


def test_it_filters_quantizations_by_family_and_bits(api):
    response = api.get("/api/v1/quantizations/", {"family": "gguf", "max_bits": 4})
    rows = response.json()["results"]
    assert rows and all(row["family"] == "gguf" and row["bits_per_weight"] <= 4 for row in rows)


def test_it_filters_api_prices_by_model_slug(api):
    price = ApiPrice.objects.filter(model__isnull=False).select_related("model").first()
    rows = api.get("/api/v1/api-prices/", {"model": price.model.slug}).json()["results"]
    assert rows and {row["model"] for row in rows} == {price.model.slug}


def test_it_names_a_bad_filter_value(api):
    response = api.get("/api/v1/models/", {"generation_mode": "telepathy", "min_params": "lots"})
    assert response.status_code == 400
    assert set(response.json()) == {"generation_mode", "min_params"}


def test_it_rejects_ordering_by_an_unknown_field_with_a_field_error(api):
    response = api.get("/api/v1/models/", {"ordering": "-name,price"})
    assert response.status_code == 400
    assert list(response.json()) == ["ordering"]
    assert response.json()["ordering"][0].startswith("Cannot order by price: one of active_params_b, ")
    assert api.get("/api/v1/api-prices/", {"ordering": "model__name"}).status_code == 400
    # A record's own URL is not ordered: the parameter does not matter there.
    assert api.get("/api/v1/models/llama-3-1-8b/", {"ordering": "price"}).status_code == 200


def test_it_rejects_an_is_moe_that_is_not_a_boolean(api):
    response = api.get("/api/v1/models/", {"is_moe": "maybe"})
    assert (response.status_code, response.json()) == (400, {"is_moe": ["Must be true or false."]})
    dense = api.get("/api/v1/models/", {"is_moe": "false", "page_size": 100}).json()["results"]
    assert dense and not any(row["is_moe"] for row in dense)


# --- Query counts (no N+1) -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/api/v1/models/", "/api/v1/quantizations/", "/api/v1/runtimes/", "/api/v1/api-prices/",
])
def test_a_list_page_costs_two_queries(api, django_assert_num_queries, path):
    # One COUNT for the paginator, one SELECT for the page (prices join their model).
    with django_assert_num_queries(2):
        assert api.get(path, {"page_size": 500}).status_code == 200


# --- Permissions -------------------------------------------------------------------------------------

def test_it_rejects_anonymous_writes(api):
    response = api.post("/api/v1/models/", NEW_MODEL, format="json")
    assert response.status_code == 401
    assert api.delete("/api/v1/runtimes/llama-cpp/").status_code == 401
    assert api.patch("/api/v1/quantizations/q4-k-m/", {"bits_per_weight": 5}, format="json").status_code == 401
    assert not ModelArchitecture.objects.filter(slug="test-8b").exists()
    assert Runtime.objects.filter(slug="llama-cpp").exists()


def test_it_rejects_writes_by_users_who_are_not_staff(plain_api):
    assert plain_api.post("/api/v1/models/", NEW_MODEL, format="json").status_code == 403
    assert plain_api.delete("/api/v1/runtimes/llama-cpp/").status_code == 403


def test_staff_create_a_model_with_a_token(staff_api):
    response = staff_api.post("/api/v1/models/", NEW_MODEL, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["slug"] == "test-8b"
    assert ModelArchitecture.objects.get(slug="test-8b").total_params_b == 8.0


def test_staff_edit_with_a_session(staff_session_api):
    response = staff_session_api.patch("/api/v1/runtimes/vllm/", {"notes": "PagedAttention"}, format="json")
    assert response.status_code == 200
    assert Runtime.objects.get(slug="vllm").notes == "PagedAttention"


def test_staff_delete_a_runtime(staff_api):
    assert staff_api.delete("/api/v1/runtimes/reference/").status_code == 204
    assert not Runtime.objects.filter(slug="reference").exists()


# --- Writes are validated like admin edits ---------------------------------------------------------

def test_it_names_each_bad_field(staff_api):
    response = staff_api.post("/api/v1/models/", {**NEW_MODEL, "active_params_b": 9.0, "n_kv_heads": 5}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "active_params_b": ["Active parameters (9B) cannot exceed total parameters (8B)."],
        "n_kv_heads": ["Attention heads (32) must be a multiple of KV heads (5)."],
    }


def test_a_partial_edit_is_checked_against_the_stored_record(staff_api):
    # As in the admin test: 200 active experts against the stored 128.
    response = staff_api.patch("/api/v1/models/qwen3-30b-a3b/", {"n_experts_active": 200}, format="json")
    assert response.status_code == 400
    assert response.json() == {"n_experts_active": ["Active experts (200) cannot exceed routed experts (128)."]}
    assert ModelArchitecture.objects.get(slug="qwen3-30b-a3b").n_experts_active == 8


def test_it_rejects_a_duplicate_slug(staff_api):
    response = staff_api.post("/api/v1/models/", {**NEW_MODEL, "slug": "qwen3-8b"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["slug"]


def test_it_rejects_a_quantization_for_an_unknown_device_kind(staff_api):
    response = staff_api.patch("/api/v1/quantizations/q4-k-m/", {"native_device_kinds": ["gpu", "abacus"]}, format="json")
    assert response.status_code == 400
    assert "native_device_kinds" in response.json()


def test_it_rejects_a_negative_api_price(staff_api):
    price = ApiPrice.objects.first()
    response = staff_api.patch(f"/api/v1/api-prices/{price.pk}/", {"usd_per_1m_input": -1}, format="json")
    assert response.status_code == 400
    assert response.json() == {"usd_per_1m_input": ["A price cannot be negative."]}


def test_staff_link_an_api_price_to_a_model_by_slug(staff_api):
    price = ApiPrice.objects.filter(model__isnull=True).first()
    response = staff_api.patch(f"/api/v1/api-prices/{price.pk}/", {"model": "llama-3-1-8b"}, format="json")
    assert response.status_code == 200
    price.refresh_from_db()
    assert price.model.slug == "llama-3-1-8b"
    unknown = staff_api.patch(f"/api/v1/api-prices/{price.pk}/", {"model": "no-such-model"}, format="json")
    assert unknown.status_code == 400 and "model" in unknown.json()


def test_it_names_a_page_that_is_not_a_number(api):
    for page in ("abc", "0", "-1"):
        response = api.get("/api/v1/models/", {"page": page})
        assert response.status_code == 400
        assert response.json() == {"page": ["A page number is a whole number from 1."]}
