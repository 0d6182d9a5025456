"""Server-side time of one estimate and one compatibility table, one request at a time.

    .venv/bin/python -m bench.latency --server gunicorn      # starts `make serve`'s gunicorn
    .venv/bin/python -m bench.latency --url http://127.0.0.1:8000

Reads each answer's `Server-Timing` (the time Django spent, not the wire): for requests the
caches have seen (the same scenario or table again) and for ones they have not (a new context
length each time, so the estimate, or the rows of the table page, are computed; a model's whole
table as CSV is timed too, for the record). Under load, `bench.load` reports the
same server time per endpoint. Targets: an estimate <= 5 ms and a table <= 15 ms, server-side.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics

import httpx

from bench.load import SERVERS, percentile, server_time, start_server, wait_ready

ESTIMATE = "/api/v1/estimate/?model=llama-3-1-8b&quantization=q4-k-m&device=nvidia-geforce-rtx-4090"
DEVICE_TABLE = "/api/v1/devices/nvidia-geforce-rtx-4090/compatibility/"
MODEL_TABLE = "/api/v1/models/llama-3-1-8b/compatibility/"


def measure(client: httpx.Client, paths: list[str]) -> list[float]:
    times = []
    for path in paths:
        response = client.get(path)
        response.raise_for_status()
        times.append(server_time(response))
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url")
    parser.add_argument("--server", choices=SERVERS)
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    if bool(args.url) == bool(args.server):
        parser.error("give --url or --server")
    base = args.url or f"http://127.0.0.1:{args.port}"
    process = None
    if args.server:
        os.environ.setdefault("WEB_CONCURRENCY", "1")  # one connection: one process answers every request
        process = start_server(args.server, args.port)
    try:
        if process is not None:
            wait_ready(base, process)
        n = args.repeat
        fresh = range(1024, 1024 + n)  # context lengths no one asked for before (per server start)
        cases = {
            "estimate, seen": [ESTIMATE] * n,
            "estimate, computed": [f"{ESTIMATE}&context_tokens={c}" for c in fresh],
            "device table page, seen": [DEVICE_TABLE] * n,
            "model table page, seen": [MODEL_TABLE] * n,
            "device table page, computed": [f"{DEVICE_TABLE}?context_tokens={c}" for c in fresh][: max(20, n // 10)],
            "model table page, computed": [f"{MODEL_TABLE}?context_tokens={c}" for c in fresh][: max(20, n // 10)],
            # Every row of the table and its CSV (not a target: a download, for the record).
            "model table CSV, computed": [f"{MODEL_TABLE}?format=csv&context_tokens={c}" for c in fresh][: max(10, n // 20)],
        }
        with httpx.Client(base_url=base, timeout=60) as client:
            measure(client, [ESTIMATE, DEVICE_TABLE, MODEL_TABLE] * 3)  # load the catalog, fill the caches
            print("| request | n | server p50 ms | server p95 ms | mean ms |")
            print("|---|---:|---:|---:|---:|")
            for name, paths in cases.items():
                times = measure(client, paths)
                print(f"| {name} | {len(times)} | {percentile(times, 50):.2f} | {percentile(times, 95):.2f} | "
                      f"{statistics.fmean(times):.2f} |")
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)


if __name__ == "__main__":
    main()
