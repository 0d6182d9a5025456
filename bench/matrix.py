"""Benchmark of the compatibility matrix: vectorised vs one scenario at a time.

    python -m bench.matrix [--data-dir DIR] [--repeat 7] [--one-by-one 400] [--json out.json]

Loads the catalog with catalog_sources (no database), then
  1. times the full catalog matrix (every model x quantization x device) through
     `pipeline.compatibility_matrix` `--repeat` times: the first (cold) call and the median;
     and the issue's floor size, 70 devices x 30 models x 20 quantizations;
  2. times `--one-by-one` scenarios sampled from the same matrix, each computed on its own
     through `pipeline.estimate_one` (the same code path, a one-row frame), and checks that the
     two paths give the same figures;
  3. prints scenarios per second of both paths and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from estimator.core import pipeline
from estimator.core.priors import load_priors
from catalog_sources import load_devices, load_models, load_quants

DEFAULT_DATA = Path(os.environ.get("HWFIT_SHARED_DATA", Path(__file__).resolve().parents[1] / "fixtures" / "sources"))
CHECK = ("mem_total_bytes", "decode_tok_s", "prefill_tok_s", "gen_tok_s", "max_batch")


def run(data_dir: Path, repeat: int, one_by_one: int, context: int, seed: int = 0) -> dict:
    models, quants, devices = load_models(data_dir), load_quants(data_dir), load_devices(data_dir)
    priors = load_priors()
    n = len(models) * len(quants) * len(devices)

    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        matrix = pipeline.compatibility_matrix(models, quants, devices, priors=priors, context=context)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    assert len(matrix) == n

    rng = np.random.default_rng(seed)
    picks = rng.choice(n, size=min(one_by_one, n), replace=False)
    n_q, n_d = len(quants), len(devices)
    records = [(models.iloc[i // (n_q * n_d)].to_dict(), quants.iloc[(i // n_d) % n_q].to_dict(),
                devices.iloc[i % n_d].to_dict()) for i in picks]
    start = time.perf_counter()
    singles = [pipeline.estimate_one(m, q, d, priors=priors, context=context) for m, q, d in records]
    single_s = time.perf_counter() - start

    # Same path, same figures.
    for i, single in zip(picks, singles):
        row = matrix.iloc[i]
        for column in CHECK:
            a, b = row[column], single[column]
            assert (b is None and not np.isfinite(a)) or np.isclose(a, b, rtol=1e-9), (column, a, b)

    # The floor: 70 devices x 30 models x 20 quantizations (the first ones of the catalog).
    small_times = []
    small = (models.iloc[:30], quants.iloc[:20], devices.iloc[:70])
    for _ in range(repeat):
        start = time.perf_counter()
        pipeline.compatibility_matrix(*small, priors=priors, context=context)
        small_times.append(time.perf_counter() - start)

    median = statistics.median(times)
    vectorised = n / median
    one_at_a_time = len(picks) / single_s
    return {
        "catalog": {"models": len(models), "quantizations": len(quants), "devices": len(devices), "scenarios": n},
        "context": context,
        "matrix_seconds_cold": round(times[0], 3),
        "matrix_seconds_median": round(median, 3),
        "matrix_seconds_all": [round(t, 3) for t in times],
        # CPU seconds of this process: what the matrix costs when the machine is not shared.
        "matrix_cpu_seconds_median": round(statistics.median(cpu), 3),
        "floor_matrix_scenarios": 30 * 20 * 70,
        "floor_matrix_seconds_median": round(statistics.median(small_times), 3),
        "vectorised_scenarios_per_s": round(vectorised),
        "one_by_one_scenarios": len(picks),
        "one_by_one_seconds": round(single_s, 3),
        "one_by_one_scenarios_per_s": round(one_at_a_time, 1),
        "speedup": round(vectorised / one_at_a_time),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--one-by-one", type=int, default=400)
    parser.add_argument("--context", type=int, default=8192)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    result = run(args.data_dir, args.repeat, args.one_by_one, args.context)
    c = result["catalog"]
    print(f"catalog: {c['models']} models x {c['quantizations']} quantizations x {c['devices']} devices "
          f"= {c['scenarios']:,} scenarios (context {result['context']})")
    print(f"full matrix, vectorised: median {result['matrix_seconds_median']:.3f} s "
          f"(cold first call {result['matrix_seconds_cold']:.3f} s; all {result['matrix_seconds_all']})")
    print(f"  -> {result['vectorised_scenarios_per_s']:,} scenarios/s; CPU time of the process: median "
          f"{result['matrix_cpu_seconds_median']:.3f} s (wall > CPU when other processes share the cores)")
    print(f"70 devices x 30 models x 20 quantizations ({result['floor_matrix_scenarios']:,} scenarios): "
          f"median {result['floor_matrix_seconds_median']:.3f} s")
    print(f"one by one: {result['one_by_one_scenarios']} scenarios in {result['one_by_one_seconds']:.2f} s "
          f"-> {result['one_by_one_scenarios_per_s']:,} scenarios/s")
    print(f"vectorised / one-by-one: {result['speedup']:,}x")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
