"""Benchmark of the pages: server-side render time and queries of the heaviest pages.

    DATABASE_URL=... python -m bench.pages [--repeat 7] [--json out.json]

Renders each page through Django's test client (URL routing, view, page services, the
estimator, template; no network and no browser) against the database in DATABASE_URL, which
must hold the seeded catalog (`make migrate`). Each page is rendered once to warm the process
(imports, the priors), then `--repeat` times; prints the median and the fastest render and the
queries of one render. Target (issue 13): the DiffusionGemma model page with every device and
the RTX 4090 device page with every model under 300 ms each.

The renders are measured with the kept-page cache (`hwfit.page_cache`) off, since that is the
cost of a page nobody asked for yet; `--page-cache` measures with it on, i.e. a model or device
page served again at the same catalog version.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

PAGES = {
    "model page: DiffusionGemma 26B-A4B, every device": "/models/diffusiongemma-26b-a4b-it/",
    "device page: RTX 4090, every model": "/devices/nvidia-geforce-rtx-4090/",
    "calculator: Llama 3.1 8B Q4_K_M on RTX 4090 (+ planner, 15 configurations)":
        "/calculator/?model=llama-3-1-8b&quantization=q4-k-m&device=nvidia-geforce-rtx-4090&context_tokens=8192",
    "calculator: Llama 3.1 70B, planner up to 64 devices (127 configurations)":
        "/calculator/?model=llama-3-1-70b&quantization=q4-k-m&device=nvidia-geforce-rtx-4090&batch=8&max_devices=64",
    "compare: 3 devices": "/compare/",
    "device list": "/devices/",
    "home": "/",
}


def run(repeat: int = 7) -> dict[str, dict]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    results = {}
    for name, url in PAGES.items():
        response = client.get(url)  # warm-up
        if response.status_code != 200:
            raise SystemExit(f"{url} answered {response.status_code}: is the catalog loaded (make migrate)?")
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            client.get(url)
            times.append(time.perf_counter() - start)
        with CaptureQueriesContext(connection) as queries:
            client.get(url)
        results[name] = {"url": url, "median_ms": 1000 * statistics.median(times), "min_ms": 1000 * min(times),
                         "queries": len(queries), "bytes": len(response.content)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--page-cache", action="store_true", help="serve model and device pages kept rendered")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwfit.settings")
    import django

    django.setup()
    from django.test.utils import override_settings

    with override_settings(HWFIT_PAGE_CACHE=args.page_cache):
        results = run(args.repeat)
    width = max(map(len, results))
    print(f"{'page':<{width}}  median     min  queries  HTML")
    for name, r in results.items():
        print(f"{name:<{width}}  {r['median_ms']:6.0f} ms {r['min_ms']:5.0f} ms  {r['queries']:7d}  {r['bytes'] / 1024:5.0f} kB")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)


if __name__ == "__main__":
    main()
