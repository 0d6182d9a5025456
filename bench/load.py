"""Load test: a bounded asyncio client against a hwfit server on this machine (loopback only).

    .venv/bin/python -m bench.load --server gunicorn --seconds 30 --connections 32
    .venv/bin/python -m bench.load --server runserver --seconds 30 --connections 32
    .venv/bin/python -m bench.load --url http://127.0.0.1:8000 --seconds 30 --connections 32

`--server` starts the server itself (gunicorn as `make serve` runs it, `manage.py runserver` with
the same production settings, or `runserver-dev`: runserver as `make run` runs it, development
settings), in production mode (but runserver-dev) on DATABASE_URL (the catalog must be seeded: `make migrate`) with CACHE_URL
(Redis, optional), waits until `/healthz/` answers, runs the load and stops it. Each connection
cycles through the mix (model page, single estimate, 100-scenario batch, compatibility JSON and
CSV), each time with the next of a few hundred distinct scenarios, so caches see first requests
as well as repeats. Prints, per endpoint: requests/s, latency p50/p95/p99 as the client saw it,
the server's own time (its `Server-Timing` header) p50/p95, and errors (any status but 200, or a
failed connection). The run is bounded: it stops after `--seconds`, and each request times out.

The client shares the machine's cores with the server, so it is kept lean: by default each
connection is a raw asyncio stream speaking HTTP/1.1 with keep-alive (`RawConnection`), which
still reads every answer's whole body and checks its status, at a fraction of the CPU per request
that httpx spends (`--client httpx` measures with httpx instead, as the first runs did).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = ("127.0.0.1", "localhost", "::1")

MODELS = ["llama-3-1-8b", "qwen3-30b-a3b", "llama-3-1-70b", "gemma-3-27b", "mistral-7b-v0-3", "qwen3-8b"]
QUANTS = ["q4-k-m", "q8-0", "bf16"]
DEVICES = ["nvidia-geforce-rtx-4090", "nvidia-h100-sxm", "apple-m2-max", "nvidia-geforce-rtx-3090", "amd-instinct-mi300x"]
CONTEXTS = [2048, 4096, 8192, 16384, 32768]


@dataclass
class Endpoint:
    name: str
    requests: list[tuple[str, str, dict | None]]  # (method, path, JSON body)


def the_mix() -> list[Endpoint]:
    scenarios = [{"model": m, "quantization": q, "device": d, "context_tokens": c}
                 for m, q, d, c in itertools.product(MODELS, QUANTS, DEVICES, CONTEXTS)]
    batches = [scenarios[start:start + 100] for start in range(0, len(scenarios) - 99, 50)]
    return [
        Endpoint("model page", [("GET", f"/models/{m}/", None) for m in MODELS]),
        Endpoint("single estimate", [("GET", "/api/v1/estimate/?" + "&".join(f"{k}={v}" for k, v in s.items()), None)
                                     for s in scenarios]),
        Endpoint("batch of 100", [("POST", "/api/v1/estimate/", {"scenarios": batch}) for batch in batches]),
        Endpoint("compatibility JSON", [("GET", f"/api/v1/devices/{d}/compatibility/?context_tokens={c}", None)
                                        for d in DEVICES for c in CONTEXTS[:2]]),
        Endpoint("compatibility CSV", [("GET", f"/api/v1/models/{m}/compatibility/?format=csv&quantization=q4-k-m",
                                        None) for m in MODELS]),
    ]


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))


REQUEST_TIMEOUT_S = 60.0


def server_time(response: httpx.Response) -> float | None:
    return server_time_of(response.headers.get("Server-Timing", ""))


def server_time_of(timing: str) -> float | None:
    for part in timing.split(";"):
        if part.startswith("dur="):
            return float(part[4:])
    return None


class RawConnection:
    """One HTTP/1.1 keep-alive connection on asyncio streams: send a request, read the whole answer.

    Answers with Content-Length or chunked bodies; reconnects when the server closes the connection
    (`Connection: close`, a worker recycled). Returns (status, Server-Timing header, body length).
    """

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: dict | None) -> tuple[int, str, int]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: */*\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + payload)
        try:
            return await self._answer()
        except BaseException:
            self.close()
            raise

    async def _answer(self) -> tuple[int, str, int]:
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            size = len(await self.reader.readexactly(int(headers["content-length"])))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            size = 0
            while chunk := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                size += len(await self.reader.readexactly(chunk + 2)) - 2
            await self.reader.readuntil(b"\r\n")
        else:  # the body runs to the end of the connection
            size = len(await self.reader.read())
            headers["connection"] = "close"
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers.get("server-timing", ""), size

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def record(tally: Tally, start: float, status: int, timing: str) -> None:
    tally.latencies.append(time.perf_counter() - start)
    tally.statuses[status] += 1
    if status != 200:
        tally.errors += 1
    elif (ms := server_time_of(timing)) is not None:
        tally.server_ms.append(ms)


async def connection(client: httpx.AsyncClient | RawConnection, mix: list[Endpoint], offset: int, deadline: float,
                     tallies: dict[str, Tally]) -> None:
    counters = itertools.count(offset)
    while time.monotonic() < deadline:
        for endpoint in mix:
            if time.monotonic() >= deadline:
                return
            method, path, body = endpoint.requests[next(counters) % len(endpoint.requests)]
            tally = tallies[endpoint.name]
            start = time.perf_counter()
            try:
                if isinstance(client, RawConnection):
                    status, timing, _size = await asyncio.wait_for(client.request(method, path, body), REQUEST_TIMEOUT_S)
                else:
                    response = await client.request(method, path, json=body)
                    await response.aread()
                    status, timing = response.status_code, response.headers.get("Server-Timing", "")
            except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    asyncio.TimeoutError, ValueError, IndexError):
                tally.errors += 1
                tally.statuses[0] += 1
                continue
            record(tally, start, status, timing)


async def run_load(base_url: str, seconds: float, connections: int, skip: tuple[str, ...] = (),
                   client: str = "raw") -> tuple[dict[str, Tally], float]:
    url = urlsplit(base_url)
    if url.hostname not in LOOPBACK:
        raise SystemExit(f"the load test only targets this machine (loopback), not {url.hostname}")
    mix = [endpoint for endpoint in the_mix() if endpoint.name not in skip]
    tallies = {endpoint.name: Tally() for endpoint in mix}
    if client == "raw":
        clients = [RawConnection(url.hostname, url.port or 80) for _ in range(connections)]
        started = time.monotonic()
        await asyncio.gather(*(connection(raw, mix, index * 7, started + seconds, tallies)
                               for index, raw in enumerate(clients)))
        elapsed = time.monotonic() - started
        for raw in clients:
            raw.close()
        return tallies, elapsed
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=httpx.Timeout(REQUEST_TIMEOUT_S)) as shared:
        started = time.monotonic()
        await asyncio.gather(*(connection(shared, mix, index * 7, started + seconds, tallies)
                               for index in range(connections)))
        elapsed = time.monotonic() - started
    return tallies, elapsed


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def table(tallies: dict[str, Tally], elapsed: float, label: str) -> tuple[str, dict]:
    lines = [f"{label}: {elapsed:.1f} s",
             f"| endpoint | requests | req/s | p50 ms | p95 ms | p99 ms | server p50 ms | server p95 ms | errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    summary = {}
    everything = Tally()
    for tally in tallies.values():
        everything.latencies += tally.latencies
        everything.server_ms += tally.server_ms
        everything.errors += tally.errors
        for status, n in tally.statuses.items():
            everything.statuses[status] += n
    for name, tally in [*tallies.items(), ("all", everything)]:
        count = sum(tally.statuses.values())
        row = {
            "requests": count, "rps": count / elapsed,
            "p50_ms": percentile(tally.latencies, 50) * 1000, "p95_ms": percentile(tally.latencies, 95) * 1000,
            "p99_ms": percentile(tally.latencies, 99) * 1000,
            "server_p50_ms": percentile(tally.server_ms, 50), "server_p95_ms": percentile(tally.server_ms, 95),
            "errors": tally.errors,
        }
        summary[name] = row
        lines.append(f"| {name} | {count} | {row['rps']:.1f} | {row['p50_ms']:.0f} | {row['p95_ms']:.0f} | "
                     f"{row['p99_ms']:.0f} | {row['server_p50_ms']:.1f} | {row['server_p95_ms']:.1f} | {tally.errors} |")
    odd = {name: dict(t.statuses) for name, t in tallies.items() if set(t.statuses) - {200}}
    if odd:
        lines.append(f"statuses other than 200: {odd}")
    return "\n".join(lines), summary


def server_env(port: int) -> dict[str, str]:
    return {
        **os.environ,
        "HWFIT_ENV": "production", "SECRET_KEY": os.environ.get("SECRET_KEY", "bench-only-key-" + "x" * 40),
        "ALLOWED_HOSTS": "127.0.0.1,localhost", "SECURE_SSL_REDIRECT": "false", "DEBUG": "false",
        # The load comes from one address: the anonymous rate limit would answer most of it 429.
        "HWFIT_ANON_THROTTLE": "100000000/minute", "BIND": f"127.0.0.1:{port}",
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }


def dev_server_env(port: int) -> dict[str, str]:
    """runserver as `make run` serves it: development settings (DEBUG, the catalog version read on
    every request), on the same database and cache as the other servers; only the rate limit is
    lifted, as for them."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("HWFIT_ENV", "SECRET_KEY", "ALLOWED_HOSTS", "DEBUG")}
    return {**env, "HWFIT_ANON_THROTTLE": "100000000/minute",
            "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


SERVERS = ("gunicorn", "runserver", "runserver-dev")


def start_server(kind: str, port: int) -> subprocess.Popen:
    """gunicorn as `make serve` runs it; runserver with the same production settings; or
    runserver-dev, runserver as `make run` runs it (development settings)."""
    env = dev_server_env(port) if kind == "runserver-dev" else server_env(port)
    python = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").exists() else sys.executable
    subprocess.run([python, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    if kind == "gunicorn":
        command = [python, "-m", "gunicorn", "-c", "hwfit/gunicorn_conf.py", "hwfit.wsgi:application"]
    else:
        command = [python, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def wait_ready(base_url: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with status {process.returncode}")
        try:
            if httpx.get(f"{base_url}/healthz/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server did not answer /healthz/ in time")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running server on this machine, e.g. http://127.0.0.1:8000")
    parser.add_argument("--server", choices=SERVERS, help="start this server for the run")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=5, help="seconds of load before the measured run")
    parser.add_argument("--skip", default="", help="endpoints left out, comma-separated (e.g. 'model page')")
    parser.add_argument("--client", choices=["raw", "httpx"], default="raw",
                        help="raw: asyncio streams, HTTP/1.1 keep-alive (lean); httpx: httpx's AsyncClient")
    parser.add_argument("--json", help="write the summary here")
    args = parser.parse_args(argv)
    if bool(args.url) == bool(args.server):
        parser.error("give --url or --server")
    skip = tuple(name.strip() for name in args.skip.split(",") if name.strip())
    process = None
    base_url = args.url or f"http://127.0.0.1:{args.port}"
    try:
        if args.server:
            process = start_server(args.server, args.port)
            wait_ready(base_url, process)
        if args.warmup:
            asyncio.run(run_load(base_url, args.warmup, args.connections, skip, args.client))
        tallies, elapsed = asyncio.run(run_load(base_url, args.seconds, args.connections, skip, args.client))
    finally:
        if process is not None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=60)
    label = f"{args.server or base_url}, {args.connections} connections, {args.client} client"
    text, summary = table(tallies, elapsed, label)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"label": label, "seconds": elapsed, "endpoints": summary}, indent=1))


if __name__ == "__main__":
    main()
