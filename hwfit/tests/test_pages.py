import pytest

from hwfit.testing import source_counts

pytestmark = pytest.mark.django_db


def admin_form_data(client, url: str) -> dict:
    """The admin change form's current values, as a browser would post them back."""
    form = client.get(url).context["adminform"].form
    return {name: ("" if value is None else value) for name, value in form.initial.items()}


def test_home_answers_with_the_catalog_sizes(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert f"<th scope=\"row\">Devices</th><td>{source_counts()['devices']}</td>" in body
    assert f"<th scope=\"row\">Models</th><td>{source_counts()['models']}</td>" in body


def test_admin_sends_anonymous_visitors_to_log_in(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_is_closed_to_users_who_are_not_staff(client, plain_user):
    client.force_login(plain_user)
    response = client.get("/admin/models_catalog/modelarchitecture/")
    assert response.status_code == 302


@pytest.mark.parametrize("path", [
    "/admin/models_catalog/modelarchitecture/", "/admin/models_catalog/quantizationformat/",
    "/admin/models_catalog/runtime/", "/admin/models_catalog/apiprice/", "/admin/devices/device/",
    "/admin/devices/cloudoffer/",
])
def test_admin_lists_every_catalog_for_staff(client, staff_user, path):
    client.force_login(staff_user)
    assert client.get(path).status_code == 200
    assert client.get(path, {"q": "nvidia"}).status_code == 200


def test_admin_filters_devices_by_kind(client, staff_user):
    client.force_login(staff_user)
    response = client.get("/admin/devices/device/", {"kind__exact": "apple"})
    assert response.status_code == 200
    assert "Apple M2 Ultra" in response.content.decode()
    assert "NVIDIA H100 SXM" not in response.content.decode()


def test_admin_shows_validation_errors_on_the_form(client, staff_user):
    from models_catalog.models import ModelArchitecture

    client.force_login(staff_user)
    model = ModelArchitecture.objects.get(slug="qwen3-30b-a3b")
    url = f"/admin/models_catalog/modelarchitecture/{model.pk}/change/"
    data = admin_form_data(client, url)
    data.update({"n_experts_active": 200, "benchmark_scores": "{}", "derived_fields": "[]"})
    data = {k: v for k, v in data.items() if not isinstance(v, bool) or v}
    response = client.post(url, data)
    assert response.status_code == 200  # the form again, not a redirect
    assert "Active experts (200) cannot exceed routed experts (128)." in response.content.decode()
    model.refresh_from_db()
    assert model.n_experts_active == 8


def test_model_page_says_unknown_for_fields_no_source_states(client):
    response = client.get("/models/llada-moe-7b-a1b-instruct/")
    body = response.content.decode()
    assert response.status_code == 200
    # LLaDA-MoE 7B-A1B: no source read states its vocabulary size.
    assert '<th scope="row">Vocab size</th>\n      <td><span class="unknown"' in body
    assert "LLaDA-MoE-7B-A1B-Instruct" in body


def test_model_page_marks_derived_fields(client):
    body = client.get("/models/diffusiongemma-26b-a4b-it/").content.decode()
    assert '<th scope="row">Global-attention layers</th>\n      <td>5 <span class="derived"' in body
    assert "Vision encoder parameters" in body and "0.55 B" in body


def test_device_page_lists_its_cloud_offers(client):
    body = client.get("/devices/nvidia-h100-sxm/").content.decode()
    assert "Cloud offers" in body and "RunPod" in body


def test_device_list_filters_by_kind(client, django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        body = client.get("/devices/", {"kind": "tpu"}).content.decode()
    assert "Google TPU v5p" in body and "NVIDIA H100 SXM" not in body


def test_device_list_names_an_unknown_kind(client):
    response = client.get("/devices/", {"kind": "quantum"})
    assert response.status_code == 400
    assert "Unknown kind &#x27;quantum&#x27;: one of gpu, apple, tpu, cpu, npu." in response.content.decode()


def test_device_list_answers_400_for_a_nul_byte_in_the_kind(client):
    # The kind reached PostgreSQL, which refuses NUL in text: a 500.
    assert client.get("/devices/", {"kind": "gpu\x00"}).status_code == 400


@pytest.mark.parametrize("url", [
    "/admin/devices/device/?vendor=%00", "/admin/models_catalog/modelarchitecture/?family=%00",
    "/admin/autocomplete/?app_label=devices&model_name=cloudoffer&field_name=device&term=%00",
])
def test_admin_answers_400_for_a_nul_byte_in_the_query_string(client, staff_user, url):
    # PostgreSQL refuses NUL in text: list filters and autocomplete failed with a 500 there.
    client.force_login(staff_user)
    assert client.get(url).status_code == 400


def test_unknown_slugs_are_404(client):
    assert client.get("/models/no-such-model/").status_code == 404
    assert client.get("/devices/no-such-device/").status_code == 404


def test_admin_keeps_a_published_price_and_its_source_read_only(client, staff_user):
    from devices.models import CloudOffer

    client.force_login(staff_user)
    offer = CloudOffer.objects.first()
    form = client.get(f"/admin/devices/cloudoffer/{offer.pk}/change/").context["adminform"].form
    assert "usd_per_hour" not in form.fields and "source" not in form.fields
    assert "usd_per_hour" in client.get("/admin/devices/cloudoffer/add/").context["adminform"].form.fields


def test_admin_saves_an_emptied_json_box_as_empty_not_null(client, staff_user):
    from devices.models import Device

    client.force_login(staff_user)
    device = Device.objects.get(slug="nvidia-l4")
    url = f"/admin/devices/device/{device.pk}/change/"
    data = admin_form_data(client, url)
    data["derived_fields"] = ""
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    device.refresh_from_db()
    assert device.derived_fields == []
