"""The Content-Security-Policy: on every response, and the API docs still work under it in Chromium."""

import re
import shutil
import subprocess

import pytest

from hwfit.tests.live_server import server  # noqa: F401

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in response.headers["Content-Security-Policy"].split(";"))


@pytest.mark.parametrize("path", ["/", "/models/", "/api/v1/runtimes/", "/api/docs/", "/admin/login/", "/healthz/"])
def test_every_response_carries_the_policy(client, path):
    directives = policy(client.get(path))
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'" and directives["frame-ancestors"] == "'none'"
    # Scripts only from this site or with the request's nonce: no inline handlers, no eval.
    assert re.fullmatch(r"'self' 'nonce-[-_A-Za-z0-9]{22}'", directives["script-src"])


def test_the_nonce_is_new_on_every_request(client):
    assert policy(client.get("/"))["script-src"] != policy(client.get("/"))["script-src"]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "headless Chromium is needed for the browser checks (apt-get install chromium)"
    return path


def render(url: str) -> tuple[str, str]:
    """The DOM after the page's scripts ran, and Chromium's console (where CSP refusals go)."""
    result = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=10000", "--dump-dom", url], capture_output=True, text=True, timeout=90)
    return result.stdout, result.stderr


@pytest.mark.slow
def test_the_api_docs_render_under_the_policy_in_chromium(server):  # noqa: F811
    dom, console = render(f"{server}/api/docs/")
    # Swagger UI ran its (external) start-up script and fetched the schema: the operations are listed.
    assert 'class="title">hwfit API' in dom
    assert 'data-path="/api/v1/estimate/"' in dom
    assert "Content Security Policy" not in console
