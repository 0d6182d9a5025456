"""Model and device pages kept rendered: served again until the catalog changes, with a fresh nonce."""

import re
from unittest import mock

import pytest
from django.core.cache import caches
from django.shortcuts import render
from django.test import override_settings

from devices.models import Device
from hwfit import page_cache
from hwfit.tests.test_throttling import DOWN_URL, redis_cache
from models_catalog import views as model_views

pytestmark = pytest.mark.django_db

MODEL_PAGE = "/models/llama-3-1-8b/?context_tokens=4096"
DEVICE_SLUG = "nvidia-geforce-rtx-4090"


def render_with_inline_script(request, *args, **kwargs):
    """The page as rendered, plus an inline script carrying the request's nonce (as a chart would)."""
    response = render(request, *args, **kwargs)
    response.content += f'<script nonce="{request.csp_nonce}">1</script>'.encode()
    return response


def renders(client, url: str, **extra) -> tuple[int, str, str]:
    """(times the model page was computed, the HTML, the nonce of the response's policy)."""
    with (mock.patch.object(model_views, "model_page", wraps=model_views.model_page) as computed,
          mock.patch.object(model_views, "render", render_with_inline_script)):
        response = client.get(url, **extra)
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([-_A-Za-z0-9]+)'", response.headers["Content-Security-Policy"]).group(1)
    return computed.call_count, response.content.decode(), nonce


def test_a_page_is_served_again_with_the_new_requests_nonce(client):
    first_calls, first, first_nonce = renders(client, MODEL_PAGE)
    again_calls, again, again_nonce = renders(client, MODEL_PAGE)
    assert (first_calls, again_calls) == (1, 0)
    assert first_nonce != again_nonce
    # The inline chart scripts carry this response's nonce, so the browser runs them.
    assert f'nonce="{again_nonce}"' in again and first_nonce not in again
    assert again == first.replace(first_nonce, again_nonce)


def test_another_query_is_another_page(client):
    renders(client, MODEL_PAGE)
    assert renders(client, "/models/llama-3-1-8b/?context_tokens=8192")[0] == 1


def test_another_worker_serves_the_page_from_the_shared_cache(client):
    renders(client, MODEL_PAGE)
    page_cache.forget()  # another process: nothing in its memory
    assert renders(client, MODEL_PAGE)[0] == 0


def test_a_catalog_edit_renders_the_page_again(client):
    url = f"/devices/{DEVICE_SLUG}/"
    assert "Renamed 4090" not in client.get(url).content.decode()
    device = Device.objects.get(slug=DEVICE_SLUG)
    device.name = "Renamed 4090"
    device.save()  # updated_at moves: a new catalog version
    assert "Renamed 4090" in client.get(url).content.decode()


def test_a_signed_in_visitor_is_never_served_a_kept_page(client, django_user_model):
    renders(client, MODEL_PAGE)
    client.force_login(django_user_model.objects.create_user("reader", password="x"))
    assert renders(client, MODEL_PAGE)[0] == 1


def test_a_cache_outage_means_rendering_never_an_error(client):
    expected_calls, expected, nonce = renders(client, MODEL_PAGE)
    page_cache.forget()
    with override_settings(CACHES=redis_cache(DOWN_URL)):
        calls, html, new_nonce = renders(client, MODEL_PAGE)
        assert caches["default"].degraded
    assert calls == 1 and html == expected.replace(nonce, new_nonce)


def test_a_page_request_reads_the_catalog_version_once(client):
    from estimator.services import catalog_cache

    with mock.patch.object(catalog_cache, "_read_version", wraps=catalog_cache._read_version) as read:
        client.get(MODEL_PAGE)  # the page's key, then the catalog the page computes with
    assert read.call_count == 1
