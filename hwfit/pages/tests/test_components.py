"""The pages' shared parts, checked against hand-written values (no database)."""

import pytest

from hwfit.catalog_pages import public_source
from hwfit.pages.commands import RunSetup, run_commands
from hwfit.pages.payback import payback
from hwfit.pages.sweeps import ar_sibling, context_points, per_forward_points
from hwfit.pages.tables import memory_bar
from hwfit.pages.templatetags import hwfit_format as fmt

GIB = 2**30


@pytest.mark.parametrize("value, text", [(1599, "$1,599"), (1599.0, "$1,599"), (12.345, "$12.35"), (0.42, "$0.42"),
                                         (0.04234, "$0.0423"), (None, "—"), (float("nan"), "—")])
def test_usd_has_a_dollar_sign_and_thousands(value, text):
    assert fmt.usd(value) == text


@pytest.mark.parametrize("value, text", [(24 * GIB, "24 GB"), (15.23 * GIB, "15.2 GB"), (0.47 * GIB, "0.47 GB"),
                                         (141 * GIB, "141 GB"), (None, "—")])
def test_gb_reads_bytes_as_memory_is_sold(value, text):
    assert fmt.gb(value) == text


@pytest.mark.parametrize("filter_, value, text", [
    (fmt.tok_s, 142.3, "142 tok/s"), (fmt.tok_s, 3676.0, "3,676 tok/s"), (fmt.tok_s, 8.03, "8.03 tok/s"),
    (fmt.band, 0.12, "±12%"), (fmt.band, 0.377, "±38%"), (fmt.seconds, 0.216, "216 ms"), (fmt.seconds, 2.25, "2.25 s"),
    (fmt.seconds, 210, "3.5 min"), (fmt.tflops, 1.65e14, "165 TFLOPS"), (fmt.num, 262144, "262,144"),
    (fmt.num, 0.55, "0.55"), (fmt.ratio, 2.963, "2.96×"), (fmt.num_short, 12_400_000, "12.4 million"),
    (fmt.months, 1, "1 month"), (fmt.months, 7.25, "7.25 months"), (fmt.watts, 450.0, "450 W"),
])
def test_figures_read_with_one_unit(filter_, value, text):
    assert filter_(value) == text


def test_a_grade_chip_says_its_rule():
    assert fmt.grade_chip("SS") == '<span class="grade grade-SS" title="SS: at least 100 tok/s for one request">SS</span>'
    assert 'class="grade grade-unknown"' in fmt.grade_chip("?")


def test_the_memory_bar_spans_what_is_needed_or_usable_whichever_is_more():
    # 12 + 4 + 2 + 2 = 20 GB needed of 16 GB usable: the bar spans 20, usable at 16/20 = 80%.
    memory = {"total_bytes": 20e9, "usable_bytes": 16e9, "weights_bytes": 12e9, "vision_bytes": 0.0,
              "kv_cache_bytes": 4e9, "activations_bytes": 1e9, "logits_bytes": 1e9, "overhead_bytes": 2e9}
    bar = memory_bar(memory)
    assert [(s.name, s.x, s.width) for s in bar.segments] == [
        ("weights", 0.0, 60.0), ("KV cache", 60.0, 20.0), ("activations", 80.0, 10.0), ("overhead", 90.0, 10.0)]
    assert bar.usable_x == 80.0 and not bar.fits
    svg = fmt.memory_bar(bar)
    assert '<rect class="mem-2" x="60.000" y="1" width="20.000" height="8"/>' in svg and 'x1="80.000"' in svg
    assert "style=" not in svg  # a strict CSP refuses inline styles
    assert not memory_bar({"total_bytes": None, "usable_bytes": None}).known


def _record(**cost):
    return {"cost": {"energy_usd_per_mtok": None, "rental_usd_per_mtok": None, "api_usd_per_mtok": None, **cost},
            "speed": {"generation_tokens_per_s_batch1": 50.0}, "workload": {"device_count": 2}}


def test_payback_counts_months_against_renting_and_the_api():
    # 2M tokens a day: energy 2 x 0.10 = $0.20, rental 2 x 1.50 = $3.00, API 2 x 0.60 = $1.20 a day.
    # Two $1,000 devices = $2,000: vs rental 2000 / (2.80 x 30.4375) = 23.47 months,
    # vs API 2000 / (1.00 x 30.4375) = 65.71 months.
    result = payback(_record(energy_usd_per_mtok=0.10, rental_usd_per_mtok=1.50, api_usd_per_mtok=0.60),
                     launch_price_usd=1000.0, daily_tokens=2_000_000)
    assert result.launch_price_usd == 2000.0
    assert (result.energy_per_day, result.rental_per_day, result.api_per_day) == pytest.approx((0.20, 3.00, 1.20))
    assert result.months_vs_rental == pytest.approx(23.47, abs=0.01)
    assert result.months_vs_api == pytest.approx(65.71, abs=0.01)
    # 50 tok/s x 86,400 s = 4.32M tokens a day at most: 2M fits, 5M does not.
    assert result.capacity_per_day == 4_320_000 and not result.over_capacity
    assert payback(_record(), launch_price_usd=1000.0, daily_tokens=5_000_000).over_capacity


def test_payback_never_comes_when_the_alternative_costs_less_than_electricity():
    result = payback(_record(energy_usd_per_mtok=1.0, api_usd_per_mtok=0.5), launch_price_usd=1000.0,
                     daily_tokens=1_000_000)
    assert result.months_vs_api is None and result.months_vs_rental is None


def _setup(**changes):
    base = dict(hf_repo="org/Model-7B", model_slug="model-7b", diffusion=False, quant_name="Q5_K_M", quant_family="gguf",
                compute_dtype="fp16", runtime="llama-cpp", context_tokens=8192, device_count=1, layers_on_device=None)
    return RunSetup(**{**base, **changes})


def test_llama_cpp_commands_make_the_gguf_from_the_repo_and_keep_the_offloaded_layers():
    commands = run_commands(_setup(layers_on_device=20, device_count=2))
    assert [c.title for c in commands] == ["llama.cpp", "Ollama"]
    assert commands[0].code.splitlines() == [
        "huggingface-cli download org/Model-7B --local-dir Model-7B",
        "python convert_hf_to_gguf.py Model-7B --outtype bf16 --outfile Model-7B-BF16.gguf",
        "llama-quantize Model-7B-BF16.gguf Model-7B-Q5_K_M.gguf Q5_K_M",
        "llama-server -m Model-7B-Q5_K_M.gguf -c 8192 -ngl 20 --split-mode layer --tensor-split 1,1",
    ]
    assert "PARAMETER num_gpu 20" in commands[1].code
    iq = run_commands(_setup(quant_name="IQ2_XXS"))[0]
    assert "llama-quantize --imatrix imatrix.dat" in iq.code and "importance matrix" in iq.note


def test_server_commands_split_over_devices_and_name_a_prequantised_checkpoint():
    vllm, sglang = run_commands(_setup(runtime="vllm", quant_family="awq", quant_name="AWQ int4", device_count=4))
    assert vllm.code == "vllm serve <AWQ export of org/Model-7B> --max-model-len 8192 --tensor-parallel-size 4"
    assert sglang.code.endswith("--context-length 8192 --tp 4")
    assert "pre-quantised" in vllm.note
    first = run_commands(_setup(runtime="sglang", quant_family="full", quant_name="BF16 (safetensors)",
                                compute_dtype="bf16"))[0]
    assert first.title == "SGLang"


def test_diffusion_models_run_through_transformers_with_their_own_code():
    (command,) = run_commands(_setup(runtime="hf-transformers", diffusion=True, quant_family="full",
                                     compute_dtype="bf16", block_size=32, tokens_per_forward=4))
    assert 'AutoModel.from_pretrained("org/Model-7B", torch_dtype=torch.bfloat16, device_map="auto", ' \
           'trust_remote_code=True)' in command.code
    assert "block length 32, about 4 tokens committed per forward" in command.note
    assert run_commands(_setup(hf_repo="")) == [] and run_commands(_setup(runtime="exllama")) == []


def test_sources_drop_clauses_citing_internal_notes():
    text = ("github ML-GSAI/LLaDA README; shared/data/README.md (DiffusionGemma) and shared/DIFFUSION.md §1.5, §2.5")
    assert public_source(text) == "github ML-GSAI/LLaDA README"
    assert public_source("hwfit project definition (runtimes named in DESIGN.md and measured_runs_dev.csv)") == \
        "hwfit project definition"
    assert public_source("club386.com (82.6 TFLOPS); TechPowerUp") == "club386.com (82.6 TFLOPS); TechPowerUp"


def _model(slug, mode, family="F", total=7.0, name=None, **shape):
    base = dict(n_layers=28, hidden_size=3584, n_heads=28, n_kv_heads=4, intermediate_size=18944, n_experts=None,
                n_experts_active=None, moe_intermediate_size=None)
    return {"slug": slug, "name": name or slug, "family": family, "generation_mode": mode, "total_params_b": total,
            **base, **shape}


def test_a_diffusion_models_sibling_shares_its_shape_same_family_first():
    diffusion = _model("d", "block_diffusion", family="Dream")
    coder = _model("qwen-coder", "autoregressive", family="Qwen", total=7.6, name="Qwen Coder 7B")
    base = _model("qwen", "autoregressive", family="Qwen", total=7.6, name="Qwen 7B")
    other = _model("other", "autoregressive", family="Dream", n_layers=32)
    assert ar_sibling(diffusion, [diffusion, coder, base, other])["slug"] == "qwen"  # shortest name of the same shape
    same_family = _model("dream-ar", "autoregressive", family="Dream", total=8.0)
    assert ar_sibling(diffusion, [coder, base, same_family])["slug"] == "dream-ar"
    assert ar_sibling(diffusion, [other]) is None
    assert ar_sibling(base, [coder]) is None  # an autoregressive model has no sibling


def test_sweep_points_double_up_to_the_window_and_the_block():
    assert context_points(8192, None) == [1024, 2048, 4096, 8192]
    assert context_points(262144, 6000) == [1024, 2048, 4096, 6000, 8192, 16384, 32768, 65536, 131072]
    assert per_forward_points(32, 15.0) == [1, 2, 4, 8, 15, 16, 32]


def _point(x, diffusion, autoregressive):
    return (x, {"speed": {"diffusion_tokens_per_s": diffusion}}, {"speed": {"decode_tokens_per_s": autoregressive}})


def test_diffusion_wins_from_the_first_faster_point_and_stops_where_batching_catches_up():
    from hwfit.pages.sweeps import diffusion_stops_winning_at, diffusion_wins_from

    per_forward = [_point(1, 5.0, 30.0), _point(2, 12.0, 30.0), _point(4, 31.0, 30.0), _point(8, 60.0, 30.0)]
    assert diffusion_wins_from(per_forward) == 4
    batches = [_point(1, 60.0, 30.0), _point(2, 62.0, 55.0), _point(4, 63.0, 63.0), _point(8, 64.0, 110.0)]
    assert diffusion_stops_winning_at(batches) == 4
    assert diffusion_wins_from(per_forward[:2]) is None and diffusion_stops_winning_at(batches[:2]) is None
