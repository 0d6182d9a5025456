"""estimator.services / selectors: catalog rows in, one core call, JSON-safe dicts out."""

import json
import math
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ValidationError

from devices.models import Device
from estimator import selectors, services
from estimator.core import pipeline
from estimator.core.schema import DEVICE_COLUMNS, MODEL_COLUMNS, QUANT_COLUMNS
from estimator.services import catalog_cache, resolve, results, tables
from hwfit.testing import source_counts

pytestmark = pytest.mark.django_db

LLAMA_ON_4090 = {"model": "llama-3-1-8b", "quantization": "q4-k-m", "device": "nvidia-geforce-rtx-4090"}


def test_the_catalog_frames_carry_the_cores_columns(django_assert_num_queries):
    with django_assert_num_queries(3):
        models, quants, devices = selectors.models_frame(), selectors.quantizations_frame(), selectors.devices_frame()
    assert set(MODEL_COLUMNS) <= set(models.columns) and len(models) == source_counts()["models"]
    assert set(QUANT_COLUMNS) <= set(quants.columns) and len(quants) == source_counts()["quantizations"]
    assert set(DEVICE_COLUMNS) <= set(devices.columns) and len(devices) == source_counts()["devices"]
    # Unknown stays unknown: NaN, never 0.
    spark = devices.set_index("slug").loc["nvidia-dgx-spark-gb10-grace-blackwell"]  # no stated FP16 peak
    assert math.isnan(spark["fp16_tflops"])


def test_loading_the_catalog_costs_one_query_per_table(django_assert_num_queries):
    # Models, quantizations, devices, runtimes, offers, prices, and the calibrations (newest fits).
    with django_assert_num_queries(7):
        catalog = services.catalog_load()
    assert set(catalog.offers.columns) >= {"device_slug", "usd_per_hour", "gpu_count"}
    assert set(catalog.prices.columns) >= {"model_slug", "usd_per_1m_input", "usd_per_1m_output"}
    assert "nvidia-h100-sxm" in set(catalog.offers["device_slug"])


def test_a_batch_is_one_call_of_the_core():
    scenarios = [LLAMA_ON_4090, {**LLAMA_ON_4090, "device": "nvidia-h100-sxm"}, {**LLAMA_ON_4090, "batch": 8}]
    with mock.patch.object(pipeline, "estimate_columns", wraps=pipeline.estimate_columns) as core:
        results = services.estimate_scenarios(scenarios=scenarios)
    assert core.call_count == 1
    assert [r["device"]["slug"] for r in results] == ["nvidia-geforce-rtx-4090", "nvidia-h100-sxm", "nvidia-geforce-rtx-4090"]
    assert results[2]["workload"]["batch"] == 8


def test_workload_values_not_given_are_the_cores_defaults():
    result = services.estimate_one(scenario=LLAMA_ON_4090)
    # The documented defaults: a 4096-token context, 256 generated tokens (so a 3840-token prompt),
    # an fp16 KV cache, one sequence on one device.
    assert result["workload"]["context_tokens"] == 4096
    assert result["workload"]["gen_tokens"] == 256
    assert result["workload"]["prompt_tokens"] == 3840
    assert result["workload"]["kv_cache_dtype"] == "fp16"
    assert (result["workload"]["batch"], result["workload"]["device_count"]) == (1, 1)


def test_a_diffusion_model_keeps_its_own_block_size_unless_one_is_given():
    sdar = {"model": "sdar-8b-chat", "quantization": "bf16", "device": "nvidia-h100-sxm"}
    own, given = services.estimate_scenarios(scenarios=[sdar, {**sdar, "block_size": 16}])
    assert own["workload"]["block_size"] == 4  # SDAR-8B-Chat's block in the catalog (models.csv)
    assert given["workload"]["block_size"] == 16


def test_it_names_each_unresolved_scenario_by_index():
    with pytest.raises(services.ScenarioInputError) as caught:
        services.estimate_scenarios(scenarios=[LLAMA_ON_4090, {**LLAMA_ON_4090, "quantization": "q9"},
                                               {**LLAMA_ON_4090, "device": {"kind": "toaster"}}])
    errors = caught.value.errors
    assert set(errors) == {1, 2}
    assert "Unknown quantization 'q9'" in errors[1]["quantization"][0]
    assert list(errors[2]["device"]) == ["kind"]


def test_an_inline_object_is_cleaned_like_an_admin_edit():
    row = services.inline_row_clean(Device, {"kind": "gpu", "memory_gb": "24", "created_at": "whenever"},
                                    selectors.DEVICE_FIELDS)
    assert row["memory_gb"] == 24.0  # converted by the model field
    assert row["usable_memory_fraction"] == 1.0  # the model's default
    assert row["slug"] == "" and row["name"] == "inline device"
    with pytest.raises(ValidationError) as caught:
        services.inline_row_clean(Device, {"kind": "gpu", "tdp_w": -5}, selectors.DEVICE_FIELDS)
    assert caught.value.message_dict == {"tdp_w": ["Power (W) must be greater than 0 (leave it empty if unknown)."]}


def test_an_inline_object_repeated_in_a_batch_is_validated_once():
    device = {"name": "My card", "kind": "gpu", "memory_gb": 48, "memory_bandwidth_gbs": 960}
    with mock.patch.object(resolve, "inline_row_clean", wraps=resolve.inline_row_clean) as clean:
        results = services.estimate_scenarios(scenarios=[{**LLAMA_ON_4090, "device": dict(device)} for _ in range(50)])
    assert clean.call_count == 1
    assert {r["device"]["name"] for r in results} == {"My card"}


def test_an_inline_device_gets_no_calibration_offer_or_price_of_a_catalog_device():
    pasted = Device.objects.filter(slug="nvidia-h100-sxm").values(*selectors.DEVICE_FIELDS)[0]
    inline, catalog = services.estimate_scenarios(scenarios=[{**LLAMA_ON_4090, "device": pasted},
                                                             {**LLAMA_ON_4090, "device": "nvidia-h100-sxm"}])
    assert inline["device"]["slug"] is None and catalog["device"]["slug"] == "nvidia-h100-sxm"
    assert inline["cost"]["rental_usd_per_hour"] is None and catalog["cost"]["rental_usd_per_hour"] > 0
    assert inline["tokens_per_s"] == pytest.approx(catalog["tokens_per_s"])


def test_results_carry_no_nan_or_infinity():
    result = pd.DataFrame({
        "model_slug": ["m"], "model_name": ["M"], "quant_slug": ["q"], "quant_name": ["Q"], "device_slug": ["d"],
        "device_name": ["D"], "runtime": ["llama-cpp"], "generation_mode": ["autoregressive"], "verdict": ["unknown"],
        "decode_tok_s": [np.nan], "prefill_tok_s": [np.inf], "diffusion_tok_s": [-np.inf], "decode_bound": ["memory"],
        "prefill_bound": ["compute"], "diffusion_bound": [None], "decode_pass_s": [np.float64(0.02)],
        "prefill_s": [np.nan], "diffusion_s": [np.nan], "error_band": [0.15], "error_band_prefill": [np.nan],
        "max_batch": [np.float64(3.0)], "calibrated": [np.bool_(False)], "mem_total_bytes": [np.inf],
    })
    [record] = services.result_records(result, modes=[None], inline={"model": [False], "quantization": [False],
                                                                      "device": [False]})
    json.dumps(record, allow_nan=False)  # raises on NaN/inf
    assert record["fits"] is None and record["tokens_per_s"] is None
    assert record["memory"]["total_bytes"] is None and record["speed"]["prefill_tokens_per_s"] is None
    assert record["speed"]["max_batch"] == 3 and isinstance(record["speed"]["max_batch"], int)
    assert record["calibrated"] is False and record["working"]["pass_s"] == 0.02


def test_a_flat_record_names_nested_fields_by_section():
    assert services.flat_record({"fits": True, "memory": {"total_bytes": 1.0}}) == {"fits": True, "memory.total_bytes": 1.0}


def test_a_flat_record_joins_names_and_writes_a_list_of_objects_as_json():
    record = {"working": {"derived": ["head_dim", "kv_heads"], "sweep": [{"tokens_per_forward": 2.0, "tokens_per_s": None}]}}
    assert services.flat_record(record) == {"working.derived": "head_dim,kv_heads",
                                            "working.sweep": '[{"tokens_per_forward": 2.0, "tokens_per_s": null}]'}


def test_the_compatibility_table_formats_only_the_rows_asked_for():
    table = services.compatibility(model_slug="llama-3-1-8b", quantizations=["q4-k-m"], workload={})
    assert len(table) == source_counts()["devices"]
    with mock.patch.object(tables, "result_records", wraps=results.result_records) as formatting:
        page = table[:10]
    assert len(page) == 10 and len(formatting.call_args.args[0]["verdict"]) == 10
    assert table[3] == table[:5][3]


def test_a_table_page_computes_only_the_chunk_it_shows():
    table = services.compatibility(device_slug="nvidia-geforce-rtx-4090", workload={"context_tokens": 6144})
    assert len(table) > 2 * tables.CHUNK_ROWS and not table.complete
    with mock.patch.object(pipeline, "estimate_columns", wraps=pipeline.estimate_columns) as core:
        first = table[:50]
        assert core.call_count == 1 and len(core.call_args.args[0]) == tables.CHUNK_ROWS
        table[50:100]  # the same chunk: nothing computed
        assert core.call_count == 1
        across = table[tables.CHUNK_ROWS - 10:tables.CHUNK_ROWS + 10]  # the next chunk as well
        assert core.call_count == 2 and len(across) == 20 and not table.complete
        assert table[len(table):] == []
        # Paged on beyond CHUNKS_BEFORE_WHOLE chunks: the rest in one call, not a call per chunk.
        assert tables.CHUNKS_BEFORE_WHOLE == 2
        last = table[len(table) - 1]
        assert core.call_count == 3 and len(core.call_args.args[0]) == len(table) and table.complete
        table[:]
        assert core.call_count == 3
    assert last == table[:][-1]


def test_a_table_read_in_pages_answers_as_the_whole_table_computed_at_once():
    workload = {"context_tokens": 6144, "batch": 4}
    paged = services.compatibility(device_slug="nvidia-geforce-rtx-4090", workload=workload)
    with mock.patch.multiple(tables, CHUNKS_BEFORE_WHOLE=len(paged), WHOLE_ROWS=0):  # every row from a chunk
        pages = [record for start in range(0, len(paged), 50) for record in paged[start:start + 50]]
    assert not paged.complete
    catalog_cache.forget()
    whole = services.compatibility(device_slug="nvidia-geforce-rtx-4090", workload=workload)
    everything = whole[:]
    assert whole.complete and len(everything) == len(pages)
    # Bit for bit: the chunks (the last one short enough for the few-rows path) and the one call.
    assert json.dumps(pages) == json.dumps(everything)
    assert paged[::-97] == everything[::-97]


def test_threads_reading_a_new_table_compute_it_once():
    import threading

    table = services.compatibility(model_slug="llama-3-1-8b", workload={"context_tokens": 5122})
    completed = []
    table.on_complete = completed.append
    start = threading.Barrier(8)

    def read():
        from django.db import connection

        start.wait()
        try:
            table[:]
        finally:
            connection.close()  # each thread's own (the accuracy ledger's query): not left for teardown

    with mock.patch.object(pipeline, "estimate_columns", wraps=pipeline.estimate_columns) as core:
        threads = [threading.Thread(target=read) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert core.call_count == 1 and completed == [table]


def test_a_table_of_two_chunks_or_fewer_is_computed_whole():
    table = services.compatibility(device_slug="nvidia-geforce-rtx-4090", quantizations=["q4-k-m", "q8-0", "bf16"],
                                   workload={"context_tokens": 5123})
    assert tables.CHUNK_ROWS < len(table) <= tables.WHOLE_ROWS
    table[:10]
    assert table.complete  # and so shared with the other processes


def test_only_a_complete_table_goes_to_the_shared_cache():
    with mock.patch.object(catalog_cache, "_shared_set") as stored:
        table = services.compatibility(model_slug="llama-3-1-8b", workload={"context_tokens": 5120})
        table[:50]
        assert not stored.called
        table[:]
        assert stored.call_count == 1 and stored.call_args.args[1] is table
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(services.compatibility(model_slug="llama-3-1-8b", workload={"context_tokens": 5121}))


def test_a_kept_table_gives_the_rows_of_the_columns_it_was_made_from():
    # A table keeps what its result objects show, compactly: a column equal in every row once,
    # text as codes. Its rows must read as the core's columns do, bit for bit (-0.0 is not 0.0).
    n = 4
    columns = {name: np.full(n, 1.5) for name in results._READ}
    columns.update({
        "verdict": pd.Categorical(["fits", "no_fit", None, "fits"]), "runtime": np.array(["a", "b", "a", "b"], dtype=object),
        "decode_tok_s": np.array([0.0, -0.0, 0.0, 0.0]), "prefill_s": np.full(n, np.nan), "calibrated": np.ones(n, bool),
        "max_batch": np.array([1.0, 2.0, np.nan, 4.0]), "not_shown": np.arange(n),
    })
    table = tables.ResultTable(columns, mode=None)
    assert "not_shown" not in table.result and isinstance(table.result["eff_m"], tables._Same)
    with mock.patch("estimator.calibration.ledger.estimates_with_accuracy", side_effect=lambda r: r):
        kept = table[:]
    full = services.result_records(columns, modes=[None] * n, inline={part: [False] * n for part in
                                                                        ("model", "quantization", "device")})
    assert json.dumps(kept) == json.dumps(full)
    assert [record["verdict"] for record in kept] == ["fits", "no_fit", None, "fits"]
    assert [math.copysign(1, record["speed"]["decode_tokens_per_s"]) for record in kept] == [1, -1, 1, 1]


def test_the_compatibility_table_names_an_unknown_quantization_or_runtime():
    with pytest.raises(ValidationError) as caught:
        services.compatibility(device_slug="nvidia-h100-sxm", quantizations=["q4-k-m", "q0"], workload={})
    assert caught.value.message_dict == {"quantization": ["Unknown quantization(s): q0."]}
    with pytest.raises(ValidationError):
        services.compatibility(device_slug="nvidia-h100-sxm", runtime="warp", workload={})


def test_a_scenario_answers_the_same_alone_as_in_a_large_batch():
    # A request of a few scenarios goes through the core as arrays with its text as object arrays,
    # a large one with categoricals (frames.FEW_ROWS): the answers must not depend on the path.
    varied = [
        LLAMA_ON_4090,
        {**LLAMA_ON_4090, "device_count": 2, "kv_cache_dtype": "q8_0", "parallel": "layers"},
        {**LLAMA_ON_4090, "model": "qwen3-32b", "device": "amd-radeon-rx-6650-xt", "device_count": 2,
         "host_memory_gb": 16},
        {**LLAMA_ON_4090, "model": "qwen3-32b", "offload": False, "batch": 8, "usd_per_kwh": 0.3},
        {**LLAMA_ON_4090, "model": "llada-8b-instruct", "quantization": "bf16", "mode": "diffusion",
         "tokens_per_forward": 2, "gen_tokens": 64},
        {**LLAMA_ON_4090, "device": "apple-m1-max", "runtime": "llama-cpp", "mode": "prefill"},
        {**LLAMA_ON_4090, "device": "nvidia-h100-sxm", "runtime": "vllm", "context_tokens": 32768},
    ]
    catalog = services.catalog_load()
    batch = (varied * 12)[:80]
    assert len(batch) > pipeline.FEW_ROWS
    together = services.estimate_scenarios(scenarios=batch, catalog=catalog)
    for scenario, answer in zip(varied, together):
        assert services.estimate_scenarios(scenarios=[scenario], catalog=catalog) == [answer]
