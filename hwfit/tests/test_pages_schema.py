"""Schemathesis over the pages' GET parameters: generated values (valid, invalid, odd) never give a 5xx.

The pages have no OpenAPI document of their own; this small one describes their query
parameters (the estimate API's names, plus each page's own) so that schemathesis can drive the
WSGI app in-process, as hwfit/tests/test_api_schema.py does for the API.
"""

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import status_code_conformance


pytestmark = pytest.mark.django_db


def _param(name: str, kind: str = "string", **schema) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": {"type": kind, **schema}}


def _many(name: str) -> dict:
    return {"name": name, "in": "query", "required": False, "style": "form", "explode": True,
            "schema": {"type": "array", "items": {"type": "string"}, "maxItems": 6}}


WORKLOAD = [
    _param("quantization", example="q4-k-m"), _param("runtime"), _param("mode", enum=["", "decode", "prefill", "diffusion", "x"]),
    _param("context_tokens", "integer"), _param("prompt_tokens", "integer"), _param("gen_tokens", "integer"),
    _param("batch", "integer"), _param("block_size", "integer"), _param("tokens_per_forward", "number"),
    _param("kv_cache_dtype"), _param("device_count", "integer"), _param("parallel"),
    _param("offload", enum=["", "true", "false", "maybe"]), _param("host_memory_gb", "number"),
    _param("usd_per_kwh", "number"),
]
CUSTOM = [
    _param("device_name"), _param("kind"), _param("memory_gb", "number"), _param("memory_bandwidth_gbs", "number"),
    _param("fp16_tflops", "number"), _param("tdp_w", "number"), _param("usable_memory_fraction", "number"),
    _param("model_name"), _param("generation_mode"), _param("total_params_b", "number"),
    _param("active_params_b", "number"), _param("n_layers", "integer"), _param("hidden_size", "integer"),
    _param("n_heads", "integer"), _param("n_kv_heads", "integer"), _param("n_experts", "integer"),
    _param("n_experts_active", "integer"), _param("max_context", "integer"),
]
PAGE_CONTROLS = [_param("vendor"), _param("kind"), _param("family"), _param("fits_only"), _param("daily_tokens"),
                 _param("device")]
HTML = {"200": {"description": "The page", "content": {"text/html": {"schema": {"type": "string"}}}},
        "400": {"description": "The page, with each bad field's reason next to it",
                "content": {"text/html": {"schema": {"type": "string"}}}}}

# Every page answers a NUL byte in its query with a plain 400 (hwfit/middleware.py).
NUL = {"400": {"description": "A NUL byte in the query"}}


def _get(parameters: list[dict], responses: dict | None = None) -> dict:
    return {"get": {"parameters": parameters, "responses": responses or HTML}}


PAGES = {
    "openapi": "3.0.3",
    "info": {"title": "hwfit pages", "version": "1"},
    "paths": {
        "/": _get([]),
        "/search/": _get([_param("q")]),
        "/models/": _get([_param("q"), _param("sort"), _param("family"), _param("generation_mode")]),
        "/devices/": _get([_param("q"), _param("sort"), _param("kind"), _param("vendor")]),
        "/devices/pick/": _get([_param("device")], {"302": {"description": "To the device page or the list"}, **NUL}),
        "/detect/": _get([_param("renderer"), _param("vendor"), _param("architecture"), _param("description")],
                         {"200": {"description": "Candidates", "content": {"application/json": {"schema": {"type": "object"}}}},
                          **NUL}),
        "/calculator/": _get([_param("model", example="llama-3-1-8b"), _param("device", example="nvidia-geforce-rtx-4090"),
                              *WORKLOAD, *CUSTOM, _param("target_tokens_per_s", "number"), _param("max_devices", "integer")]),
        "/compare/": _get([_many("model"), _many("device"), _param("what"), *WORKLOAD]),
        "/models/{slug}/": {"get": {"parameters": [
            {"name": "slug", "in": "path", "required": True, "schema": {"type": "string", "enum": ["llama-3-1-8b", "no-such-model"]}},
            *WORKLOAD, *PAGE_CONTROLS], "responses": {**HTML, "404": {"description": "No such model"}}}},
        "/devices/{slug}/": {"get": {"parameters": [
            {"name": "slug", "in": "path", "required": True, "schema": {"type": "string", "enum": ["nvidia-l4", "no-such-device"]}},
            *WORKLOAD, *PAGE_CONTROLS], "responses": {**HTML, "404": {"description": "No such device"}}}},
    },
}

schema = schemathesis.openapi.from_dict(PAGES, config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}}))
schema.app = get_wsgi_application()

BOUNDS = hypothesis_settings(
    max_examples=25, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)


@pytest.fixture
def in_test_transaction():
    """Keep the test's connection across requests made straight to the WSGI app (as Django's test
    client does): Django would close it at the end of each request, inside the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@schema.parametrize()
@BOUNDS
def test_the_pages_never_answer_a_server_error(case, in_test_transaction):
    # A NUL byte in a query is the middleware's 400 (text/plain): only the status codes are checked.
    case.call_and_validate(checks=[not_a_server_error, status_code_conformance])
