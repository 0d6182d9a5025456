"""Schemathesis against the pages: whatever a query string holds, a page answers, never a 500.

The pages have no OpenAPI schema of their own, so this one describes them: each page's path
(with a seeded record for the detail pages) and every query parameter any page reads, as free
text. Generated values (unicode digits, huge numbers, NUL, empty, repeated) go through the
WSGI app in-process, as the API's schemathesis run does (hwfit/tests/test_api_schema.py).
"""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig

from hwfit.tests.api_fixtures import unthrottled  # noqa: F401
from hwfit.tests.test_api_schema import in_test_transaction  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Every query parameter a page reads (tools forms, catalog list filters and controls).
PARAMETERS = (
    "q", "page", "sort", "kind", "vendor", "family", "generation_mode", "what", "model", "quantization", "device",
    "runtime", "mode", "context_tokens", "prompt_tokens", "gen_tokens", "batch", "block_size", "tokens_per_forward",
    "kv_cache_dtype", "device_count", "parallel", "offload", "host_memory_gb", "usd_per_kwh", "fits_only", "general",
    "daily_tokens", "memory_gb", "memory_bandwidth_gbs", "fp16_tflops", "renderer", "architecture", "description",
)
PAGES = {
    "/": [], "/search/": PARAMETERS, "/models/": PARAMETERS, "/devices/": PARAMETERS, "/devices/pick/": PARAMETERS,
    "/calculator/": PARAMETERS, "/compare/": PARAMETERS, "/detect/": PARAMETERS,
    "/models/{slug}/": PARAMETERS, "/devices/{slug}/": PARAMETERS, "/calibration/": PARAMETERS,
}
SLUGS = {"/models/{slug}/": ["llama-3-1-8b", "qwen3-30b-a3b"], "/devices/{slug}/": ["nvidia-geforce-rtx-4090", "apple-m2-max"]}


def page_schema() -> dict:
    paths = {}
    for path, names in PAGES.items():
        parameters = [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}} for name in names]
        if path in SLUGS:
            parameters.append({"name": "slug", "in": "path", "required": True,
                               "schema": {"type": "string", "enum": SLUGS[path]}})
        paths[path] = {"get": {"operationId": path.strip("/").replace("/", "_") or "home", "parameters": parameters,
                               "responses": {"default": {"description": "A page (HTML) or a redirect."}}}}
    return {"openapi": "3.0.3", "info": {"title": "hwfit pages", "version": "1"}, "paths": paths}


schema = schemathesis.openapi.from_dict(
    page_schema(), config=SchemathesisConfig.from_dict({"phases": {"coverage": {"enabled": False}}}))
schema.app = get_wsgi_application()

BOUNDS = hypothesis_settings(
    max_examples=15, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.function_scoped_fixture,
                           HealthCheck.data_too_large],
)


@schema.parametrize()
@BOUNDS
def test_no_query_string_makes_a_page_fail(case, in_test_transaction):  # noqa: F811
    case.call_and_validate(checks=[not_a_server_error])
