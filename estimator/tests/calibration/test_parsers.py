"""Runtime benchmark outputs become measured-run lines; unreadable lines are named with their reason."""

from __future__ import annotations

import json

from estimator.calibration.parsers import parse_measured

DEFAULTS = {"model": "llama-3-1-8b", "quantization": "q4-k-m", "device": "nvidia-geforce-rtx-4090"}

LLAMA_BENCH_MD = """\
| model                          |       size |     params | backend    | ngl |          test |                  t/s |
| ------------------------------ | ---------: | ---------: | ---------- | --: | ------------: | -------------------: |
| llama 8B Q4_K - Medium         |   4.58 GiB |     8.03 B | CUDA       |  99 |         pp512 |     11245.12 ± 95.21 |
| llama 8B Q4_K - Medium         |   4.58 GiB |     8.03 B | CUDA       |  99 |         tg128 |        127.70 ± 0.11 |
| llama 8B Q4_K - Medium         |   4.58 GiB |     8.03 B | CUDA       |  99 |  tg128 @ d512 |        120.00 ± 0.11 |
| llama 8B Q4_K - Medium         |   4.58 GiB |     8.03 B | CUDA       |  99 |        tg-128 |        120.00 ± 0.11 |

build: 4426e298 (4426)
"""


def test_it_reads_a_llama_bench_table_and_names_the_bad_line():
    lines, errors = parse_measured(LLAMA_BENCH_MD, "llama-bench-md", DEFAULTS)
    assert [(l["metric"], l["test"], l["tokens_per_s"]) for l in lines] == [
        ("prefill", "pp512", 11245.12), ("decode", "tg128", 127.70), ("decode", "tg128@d512", 120.0)]
    # pp512: 512 prompt tokens counted; tg128: one token per pass at a mean cached length of 64.
    assert (lines[0]["numerator"], lines[0]["prompt_len"]) == (512.0, 512.0)
    assert (lines[1]["numerator"], lines[1]["decode_context"]) == (1.0, 64.0)
    # tg128 @ d512: 512 cached tokens plus half of the 128 generated.
    assert lines[2]["decode_context"] == 512 + 64
    assert errors == [{"line": 6, "field": "test", "reason": "ppN, tgN or ppN@dD, got 'tg-128'"}]


def test_llama_bench_output_needs_the_model_and_device_given_with_it():
    _, errors = parse_measured(LLAMA_BENCH_MD, "llama-bench-md", {"quantization": "q4-k-m"})
    assert {"line": 3, "field": "model", "reason": "not in this format: give it with the upload"} in errors
    assert {"line": 3, "field": "device", "reason": "not in this format: give it with the upload"} in errors


def test_it_reads_llama_bench_json_with_depth_and_build_era():
    text = json.dumps([
        {"build_commit": "4426e298", "build_number": 4426, "n_prompt": 0, "n_gen": 128, "n_depth": 4096,
         "avg_ts": 101.5, "n_ubatch": 512},
        {"build_commit": "abc", "build_number": 1500, "n_prompt": 512, "n_gen": 0, "avg_ts": 900.0},
        {"build_commit": "abc", "build_number": 1500, "n_prompt": 512, "n_gen": 128, "avg_ts": 5.0},
    ])
    lines, errors = parse_measured(text, "llama-bench-json", DEFAULTS)
    assert [(l["test"], l["runtime"]) for l in lines] == [("tg128@d4096", "llama-cpp"), ("pp512", "llama-cpp@2023")]
    # tg128@d4096: the decode runs over 4096 cached tokens plus half of the 128 generated.
    assert lines[0]["decode_context"] == 4096 + 64
    assert errors == [{"line": 3, "field": "n_prompt", "reason": "exactly one of n_prompt and n_gen is > 0"}]


def test_a_serving_benchmark_gives_the_batched_decode_rate_from_tpot():
    result = {"backend": "vllm", "completed": 100, "total_input_tokens": 102400, "total_output_tokens": 12800,
              "max_concurrency": 16, "median_tpot_ms": 20.0, "mean_tpot_ms": 21.0}
    lines, errors = parse_measured(json.dumps(result), "vllm", DEFAULTS)
    assert errors == []
    # 16 sequences at 1000 / 20 ms = 50 tokens/s each: 800 tokens/s; cached 1024 in + 128/2 out.
    assert (lines[0]["tokens_per_s"], lines[0]["batch"], lines[0]["numerator"]) == (800.0, 16, 16.0)
    assert lines[0]["decode_context"] == 1024 + 64


def test_a_serving_result_without_its_concurrency_is_an_error():
    _, errors = parse_measured(json.dumps({"completed": 1, "median_tpot_ms": 10, "total_input_tokens": 1,
                                           "total_output_tokens": 1}), "sglang", DEFAULTS)
    assert errors == [{"line": 1, "field": "max_concurrency", "reason": "needed: the batch the rate was measured at"}]


def test_a_csv_missing_columns_or_with_bad_rates_is_reported_by_line():
    _, errors = parse_measured("model,device\nx,y\n", "csv")
    assert {e["field"] for e in errors} == {"engine", "quant", "metric", "prompt_or_gen_len", "tokens_per_s"}
    header = "engine,engine_build,model,quant,device,n_devices,metric,prompt_or_gen_len,batch,tokens_per_s,note\n"
    lines, errors = parse_measured(header + "llama.cpp,b4426 (4426),M,Q,D,1,tg,tg128,1,-3,\n"
                                            "llama.cpp,b4426 (4426),M,Q,D,1,tg,tg128,1,55.5,\n", "csv")
    assert errors == [{"line": 2, "field": "tokens_per_s", "reason": "not a positive number: '-3'"}]
    assert len(lines) == 1 and lines[0]["line"] == 3 and lines[0]["runtime"] == "llama-cpp"
