"""`hwfit --server URL`: the same answers through a running hwfit's REST API (Django's live server)."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from conftest import CATALOG_FIXTURE
from hwfit.tests.api_fixtures import unthrottled  # noqa: F401 (fixture)
from hwfit.tests.test_cli import NVIDIA, LINUX_FILES, cli, fake_runner


@pytest.fixture(scope="module")
def catalog_reloaded_after(django_db_blocker):
    # live_server tests are transactional: pytest-django empties every table after each one.
    # Module teardown runs after that flush, so later tests find the catalog again.
    yield
    with django_db_blocker.unblock():
        call_command("loaddata", str(CATALOG_FIXTURE), verbosity=0)


@pytest.fixture
def server(catalog_reloaded_after, transactional_db, live_server, unthrottled) -> str:  # noqa: F811
    from models_catalog.models import ModelArchitecture

    if not ModelArchitecture.objects.exists():  # emptied by the previous live-server test
        call_command("loaddata", str(CATALOG_FIXTURE), verbosity=0)
    return live_server.url


def test_an_estimate_through_the_server_is_the_local_one(server):
    argv = ("estimate", "llama-3-1-8b", "--quantization", "q4-k-m", "--device", "nvidia-geforce-rtx-4090",
            "--context", "8192", "--json")
    code, remote = cli("--server", server, *argv)
    assert code == 0
    code, local = cli(*argv)
    assert json.loads(remote)["tokens_per_s"] == pytest.approx(json.loads(local)["tokens_per_s"])
    assert json.loads(remote)["memory"] == json.loads(local)["memory"]


def test_fit_on_a_named_device_through_the_server_is_the_local_table(server):
    argv = ("fit", "--device", "nvidia-geforce-rtx-4090", "--json", "--limit", "10")
    code, remote = cli("--server", server, *argv)
    assert code == 0
    code, local = cli(*argv)
    names = lambda text: [(r["model"]["slug"], r["quantization"]["slug"]) for r in json.loads(text)["results"]]  # noqa: E731
    assert names(remote) == names(local) and len(names(remote)) == 10


def test_a_probed_machine_is_matched_against_the_servers_catalog(server):
    code, out = cli("--server", server, "detect", "--json", run=fake_runner(NVIDIA), read=LINUX_FILES.get)
    assert code == 0 and json.loads(out)["device"]["ref"] == "nvidia-geforce-rtx-4090"
    code, out = cli("--server", server, "fit", "--json", "--limit", "3", run=fake_runner(NVIDIA),
                    read=LINUX_FILES.get)
    assert code == 0 and len(json.loads(out)["results"]) == 3


def test_the_servers_400_is_a_one_line_error(server, capsys):
    code, _ = cli("--server", server, "estimate", "llama-3-1-8b", "--quantization", "q4-k-m", "--device", "nope")
    err = capsys.readouterr().err
    assert code == 2 and "answered 400" in err and "device: Unknown device 'nope'" in err and "Traceback" not in err


def test_an_unreachable_or_malformed_server_is_named(capsys):
    code, _ = cli("--server", "http://127.0.0.1:9", "fit", "--device", "nvidia-geforce-rtx-4090")
    assert code == 2 and "cannot reach http://127.0.0.1:9" in capsys.readouterr().err
    code, _ = cli("--server", "ftp://example", "fit", "--device", "x")
    assert code == 2 and "--server must be an http(s) URL" in capsys.readouterr().err
