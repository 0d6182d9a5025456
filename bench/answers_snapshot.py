"""Golden answers: the API's answers to a fixed set of 1,000 scenarios, in canonical JSON.

A refactor that should not change behaviour must leave this file byte-identical. Compare two
revisions on the same catalog fixture:

    git worktree add /tmp/hwfit-before <revision>        # the revision before the change
    (cd /tmp/hwfit-before && ln -s "$OLDPWD/.venv" .venv && \
     .venv/bin/python -m bench.answers_snapshot -o /tmp/answers_before.json --fixture "$OLDPWD/fixtures/catalog.json")
    .venv/bin/python -m bench.answers_snapshot -o /tmp/answers_after.json
    cmp /tmp/answers_before.json /tmp/answers_after.json   # silent and 0 when nothing changed

(A revision older than this script: copy `bench/answers_snapshot.py` into its worktree first.)

Scenarios come from `fixtures/catalog.json` (or `--fixture`) with a fixed seed: catalog models,
quantizations and devices by slug or name, inline copies of catalog records with a field or two
changed, every mode (diffusion included), contexts up to the model's window, batches, several
devices and their split, offload on and off, energy prices, KV-cache dtypes, diffusion caches,
runtimes, and a few requests that must be refused (their 400 bodies are part of the answers).
Compatibility tables (a model's and a device's, JSON and CSV, with and without offload and a
given energy price) close the file.

It runs in a scratch test database (`test_<name>` of DATABASE_URL, created and dropped here), so
it never touches the data a server uses; don't run it while pytest uses the same test database.
A change of the fixture, the priors or the answers' fields changes the file: compare revisions
that share them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import random
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SEED = 20261129
N_SCENARIOS = 1000
BATCH = 100

WORKLOAD_CHOICES: dict[str, list[Any]] = {
    "gen_tokens": [1, 64, 256, 1024],
    "batch": [1, 2, 8, 32, 256],
    "kv_cache_dtype": ["fp16", "fp8", "q8_0", "q4_0"],
    "device_count": [1, 2, 4, 8],
    "parallel": ["auto", "none", "tensor", "layers"],
    "host_memory_gb": [0, 16, 64, 512],
    "usd_per_kwh": [0.0, 0.05, 0.3],
    "offload": [True, False],
}
CONTEXTS = [1, 512, 2048, 4096, 8192, 32768, 131072]


def setup_django(database_url: str | None) -> None:
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    # The answers must not depend on the shell: the site's energy price and no throttling.
    os.environ["HWFIT_USD_PER_KWH"] = "0.12"
    os.environ["HWFIT_ANON_THROTTLE"] = "1000000/minute"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwfit.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    # The refused requests are expected: no "Bad Request" line per answer.
    logging.getLogger("django.request").setLevel(logging.ERROR)


def _catalog() -> dict[str, list[dict[str, Any]]]:
    from devices.models import Device
    from estimator import selectors
    from models_catalog.models import ModelArchitecture, QuantizationFormat, Runtime

    def rows(model, fields):
        return [dict(row) for row in model.objects.order_by("slug").values(*fields)]

    return {
        "models": rows(ModelArchitecture, selectors.MODEL_FIELDS),
        "quantizations": rows(QuantizationFormat, selectors.QUANT_FIELDS),
        "devices": rows(Device, selectors.DEVICE_FIELDS),
        "runtimes": sorted(Runtime.objects.values_list("slug", flat=True)),
    }


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(row, default=str))


def _inline(rng: random.Random, row: dict[str, Any], kind: str) -> dict[str, Any]:
    """A catalog record pasted inline, sometimes with a number changed (a card or model not in the catalog)."""
    data = {k: v for k, v in _jsonable(row).items() if v is not None and k != "slug"}
    data["name"] = f"inline {row['name']}"
    numeric = {"model": ["max_context"], "quantization": ["bits_per_weight"],
               "device": ["memory_gb", "memory_bandwidth_gbs", "fp16_tflops", "tdp_w"]}[kind]
    for name in numeric:
        if name in data and rng.random() < 0.5:
            data[name] = round(float(data[name]) * rng.choice([0.5, 1.5, 2.0]), 3)
    return data


def scenarios(catalog: dict[str, list[dict[str, Any]]], n: int = N_SCENARIOS, seed: int = SEED) -> list[dict[str, Any]]:
    """n scenarios drawn with a fixed seed: the same catalog gives the same list."""
    rng = random.Random(seed)
    models = catalog["models"]
    diffusion = [m for m in models if m["generation_mode"] == "block_diffusion"]
    out = []
    for index in range(n):
        model = rng.choice(diffusion if rng.random() < 0.25 else models)
        quant = rng.choice(catalog["quantizations"])
        device = rng.choice(catalog["devices"])
        scenario: dict[str, Any] = {}
        for part, row, kind in (("model", model, "model"), ("quantization", quant, "quantization"),
                                ("device", device, "device")):
            draw = rng.random()
            scenario[part] = (_inline(rng, row, kind) if draw < 0.08 else
                              row["name"] if draw < 0.2 else row["slug"])
        window = model.get("max_context") or 131072
        if rng.random() < 0.7:
            scenario["context_tokens"] = min(rng.choice(CONTEXTS), int(window))
            if rng.random() < 0.3:
                scenario["prompt_tokens"] = max(1, scenario["context_tokens"] // rng.choice([1, 2, 4]))
        for name, values in WORKLOAD_CHOICES.items():
            if rng.random() < 0.25:
                scenario[name] = rng.choice(values)
        if model["generation_mode"] == "block_diffusion":
            scenario["mode"] = rng.choice([None, "diffusion", "decode", "prefill"])
            if rng.random() < 0.3:
                scenario["block_size"] = rng.choice([4, 32, 64])
                if rng.random() < 0.5:
                    scenario["tokens_per_forward"] = rng.choice([1.0, 2.0, scenario["block_size"] / 2])
            if rng.random() < 0.2:
                scenario["steps_per_block"] = rng.choice([1, 4, 16])
            if rng.random() < 0.3:
                scenario["diffusion_cache"] = rng.choice(["none", "prefix", "dual"])
        else:
            scenario["mode"] = rng.choice([None, None, "decode", "prefill"])
        if rng.random() < 0.1:
            scenario["runtime"] = rng.choice(catalog["runtimes"])
        # A few requests that must be refused: an unknown record, a diffusion mode on an
        # autoregressive model, a context beyond the window, an inline device that breaks an invariant.
        if index % 97 == 13:
            scenario["device"] = "no-such-device"
        elif index % 97 == 41 and model["generation_mode"] != "block_diffusion":
            scenario["mode"] = "diffusion"
        elif index % 97 == 67:
            scenario["context_tokens"] = int(window) + 1
        elif index % 97 == 89:
            scenario["device"] = {**_inline(rng, device, "device"), "memory_bandwidth_gbs": -1}
        out.append({k: v for k, v in scenario.items() if v is not None})
    return out


def _answers(client, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each scenario's answer, asked in batches of BATCH.

    A refused batch names its bad scenarios: each is asked alone (the single-scenario error body)
    and the rest again as a batch, so both the batch and the single path are in the answers.
    """
    answers: list[dict[str, Any] | None] = [None] * len(items)
    for start in range(0, len(items), BATCH):
        pending = list(range(start, min(start + BATCH, len(items))))
        while pending:
            response = client.post("/api/v1/estimate/", {"scenarios": [items[i] for i in pending]},
                                   content_type="application/json")
            if response.status_code == 200:
                for i, result in zip(pending, response.json()["results"]):
                    answers[i] = {"status": 200, "batch": True, "body": result}
                break
            bad = {pending[int(k)] for k in response.json().get("scenarios", {})} or set(pending)
            for i in sorted(bad):
                one = client.post("/api/v1/estimate/", items[i], content_type="application/json")
                answers[i] = {"status": one.status_code, "batch": False, "body": one.json()}
            pending = [i for i in pending if i not in bad]
    return answers


def _tables(client) -> dict[str, Any]:
    """Compatibility tables of one model and one device, JSON (two pages) and CSV."""
    queries = {
        "model-default": ("/api/v1/models/llama-3-1-8b/compatibility/", {}),
        "model-offload-off": ("/api/v1/models/llama-3-1-70b/compatibility/",
                              {"context_tokens": 8192, "offload": "false", "usd_per_kwh": 0.31, "quantization": "q4-k-m,q8-0"}),
        "diffusion-model": ("/api/v1/models/sdar-8b-chat/compatibility/", {"mode": "diffusion", "batch": 4}),
        "device-default": ("/api/v1/devices/nvidia-geforce-rtx-4090/compatibility/", {}),
        "device-workload": ("/api/v1/devices/apple-m2-max/compatibility/",
                            {"context_tokens": 2048, "batch": 8, "usd_per_kwh": 0.2, "host_memory_gb": 16,
                             "kv_cache_dtype": "fp8", "runtime": "llama-cpp"}),
        "device-bad-quant": ("/api/v1/devices/nvidia-h100-sxm/compatibility/", {"quantization": "nope"}),
    }
    out: dict[str, Any] = {}
    for name, (url, query) in queries.items():
        pages = []
        for page in (1, 2):
            response = client.get(url, {**query, "page": page, "page_size": 100})
            pages.append({"status": response.status_code, "body": response.json()})
        csv = client.get(url, {**query, "format": "csv"})
        out[name] = {"json": pages, "csv_status": csv.status_code,
                     "csv": csv.content.decode() if csv.status_code == 200 else csv.json()}
    return out


@contextmanager
def catalog_database(fixture: Path) -> Iterator[None]:
    """A scratch test database holding `fixture`'s catalog, dropped on the way out."""
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import setup_test_environment, teardown_test_environment

    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        call_command("loaddata", str(fixture), verbosity=0)
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


def snapshot(fixture: Path) -> dict[str, Any]:
    from django.test import Client

    with catalog_database(fixture):
        catalog = _catalog()
        items = scenarios(catalog)
        client = Client()
        return {"seed": SEED, "scenarios": items, "answers": _answers(client, items), "compatibility": _tables(client)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, required=True, help="Where to write the canonical JSON.")
    parser.add_argument("--fixture", type=Path, default=ROOT / "fixtures" / "catalog.json")
    parser.add_argument("--database-url", default=None, help="Default: DATABASE_URL.")
    args = parser.parse_args(argv)
    setup_django(args.database_url)
    data = snapshot(args.fixture.resolve())
    text = json.dumps(data, sort_keys=True, ensure_ascii=True, separators=(",", ":"), allow_nan=False) + "\n"
    args.output.write_text(text)
    refused = sum(answer["status"] != 200 for answer in data["answers"])
    print(f"{args.output}: {len(data['answers'])} answers ({refused} refused), "
          f"sha256 {hashlib.sha256(text.encode()).hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
