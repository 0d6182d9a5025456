"""How measured-run rows become workloads on catalog rows."""

from __future__ import annotations

import math

import pytest

from estimator.core.devdata import flash_attention_of, parse_test, runtime_of


@pytest.mark.parametrize("engine, build, runtime", [
    ("llama.cpp (llama-bench)", "4426e298 (2824)", "llama-cpp"),
    ("llama.cpp (llama-bench)", "7082d24 (1691)", "llama-cpp@2023"),
    ("llama.cpp (./main -n 256 --ignore-eos)", "9476b01 (2023-10-02)", "llama-cpp@2023"),
    ("llama.cpp", "reference build 8e672ef (2023-11-21); later rows may use newer builds", "llama-cpp@2023"),
    ("llama.cpp (llama-bench)", "llama.cpp master (Jan 2024)", "llama-cpp"),
    ("llama.cpp (llama-bench, -fa 1, -ub 2048, mmap 0)", "05a6f0e89 (b8038)", "llama-cpp"),
    ("MLC LLM", "mlc-llm 8e94910 + relax e5ca38d (2023-10-04)", "mlc-llm@2023"),
    ("vLLM", "acbed3e (2023-10-06)", "vllm@2023"),
    ("vLLM", "0.7.3 (CUDA 12.5)", "vllm"),
    ("SGLang", "0.5.6 (CUDA 12.8, torch 2.9.1)", "sglang"),
    ("ExLlamaV2", "exllamav2 9d6fdb9 (2023-10-05)", "exllama@2023"),
    ("ExLlama (README column 'exllama'; v1/v2 not stated)", "not stated", "exllama@2023"),
    ("ExLlama (README column 'exllama'; v1/v2 not stated)", "not stated", "exllama"),
])
def test_it_names_the_runtime_and_its_build_era(engine, build, runtime):
    # The undated ExLlama rows of the MLC benchmark are dated by their note ("Oct 2023").
    note = "vendor (MLC team) benchmark, Oct 2023" if runtime == "exllama@2023" else ""
    assert runtime_of(engine, build, note) == runtime


def test_it_reads_llama_bench_test_names():
    assert parse_test("tg", "tg128") == {"metric": "decode", "decode_context": 64.0, "prompt_len": 1.0,
                                         "prefill_depth": 0.0, "numerator": 1.0}
    assert parse_test("tg", "tg32@d4096")["decode_context"] == 4096 + 16
    deep = parse_test("pp", "pp2048@d8192")
    assert (deep["metric"], deep["prompt_len"], deep["prefill_depth"], deep["numerator"]) == ("prefill", 2048, 8192, 2048)
    assert parse_test("pp", "prompt 494 tokens")["prompt_len"] == 494
    assert parse_test("tg", "gen 1024 (./main -n 1024 --ignore-eos)")["decode_context"] == 16 + 512
    assert parse_test("tg", "not stated")["decode_context"] == 64


@pytest.mark.parametrize("runtime, engine, note, flash", [
    ("llama-cpp", "llama.cpp (llama-bench, -fa 1, -ub 2048, mmap 0)", "", 1.0),
    ("llama-cpp", "llama.cpp (llama-bench)", "flags fa=1 b=256; mid-2025", 1.0),
    ("llama-cpp", "llama.cpp (llama-bench)", "README value matches raw notebook output", 0.0),
    ("llama-cpp@2023", "llama.cpp (main)", "", 0.0),
])
def test_it_reads_whether_a_llama_cpp_row_ran_flash_attention(runtime, engine, note, flash):
    assert flash_attention_of(runtime, engine, note) == flash


def test_it_leaves_flash_attention_unstated_for_other_runtimes():
    assert math.isnan(flash_attention_of("vllm", "vLLM 0.6", ""))
