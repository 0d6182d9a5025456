"""Benchmark of the estimate API: one POST of 1,000 scenarios, timed end to end.

    DATABASE_URL=postgres://... python -m bench.estimate_batch [--repeat 5] [--target 2.0]

Posts a batch of 1,000 scenarios (every catalog model, quantization and device in turn, one in
ten on an inline device, contexts of 1k/8k/32k within each model's window, batches 1 to 4) to
/api/v1/estimate/ through Django's test client, in a scratch database holding the fixture
catalog (see bench/answers_snapshot.py). The first request loads the priors, as a running server
already has; then prints the median and the slowest of `--repeat` posts, and exits 1 when the
median is above `--target` seconds (2 s: the API's promise for a full batch).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from bench.answers_snapshot import ROOT, catalog_database, setup_django


def batch_of_1000() -> list[dict]:
    from devices.models import Device
    from models_catalog.models import ModelArchitecture, QuantizationFormat

    models = list(ModelArchitecture.objects.order_by("pk").values_list("slug", "max_context"))
    quants = list(QuantizationFormat.objects.order_by("pk").values_list("slug", flat=True))
    devices = list(Device.objects.order_by("pk").values_list("slug", flat=True))
    inline = {"name": "My card", "kind": "gpu", "memory_gb": 48, "memory_bandwidth_gbs": 960, "fp16_tflops": 150}
    scenarios = []
    for i in range(1000):
        model, window = models[i % len(models)]
        # Within the model's window: a longer context is refused (the API tests use this batch too).
        context = min((1024, 8192, 32768)[i % 3], window or 32768)
        scenarios.append({"model": model, "quantization": quants[(i * 7) % len(quants)],
                          "device": inline if i % 10 == 0 else devices[(i * 13) % len(devices)],
                          "context_tokens": context, "batch": 1 + i % 4})
    return scenarios


def run(repeat: int) -> list[float]:
    from django.test import Client

    client = Client()
    scenarios = batch_of_1000()
    client.post("/api/v1/estimate/", {"scenarios": scenarios[:1]}, content_type="application/json")
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.post("/api/v1/estimate/", {"scenarios": scenarios}, content_type="application/json")
        seconds.append(time.perf_counter() - started)
        if response.status_code != 200 or response.json()["count"] != 1000:
            raise SystemExit(f"the batch was not answered: {response.status_code} {response.content[:300]!r}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--target", type=float, default=2.0, help="seconds the median may take")
    parser.add_argument("--fixture", type=Path, default=ROOT / "fixtures" / "catalog.json")
    args = parser.parse_args(argv)
    setup_django(None)
    with catalog_database(args.fixture.resolve()):
        seconds = run(args.repeat)
    median = statistics.median(seconds)
    print(f"1,000 scenarios: median {median:.2f} s, slowest {max(seconds):.2f} s over {len(seconds)} posts "
          f"(target {args.target:g} s)")
    return 0 if median <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
