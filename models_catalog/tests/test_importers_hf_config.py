"""config.json import: parameter counts from the shapes against published totals, and clear refusals."""

from __future__ import annotations

import pytest

from models_catalog.importers.hf_config import ConfigImportError, architecture_from_config, config_from_text
from models_catalog.models import ModelArchitecture
from models_catalog.tests import hf_configs as hf

# (config, published total B, published active B or None for dense, where the figures are published)
PUBLISHED = {
    "Llama-3.1-8B": (hf.LLAMA_3_1_8B, 8.03, None, "huggingface.co/meta-llama/Llama-3.1-8B: '8.03B params'"),
    "Mistral-7B-v0.1": (hf.MISTRAL_7B, 7.24, None, "huggingface.co/mistralai/Mistral-7B-v0.1: '7.24B params'"),
    "Mixtral-8x7B": (hf.MIXTRAL_8X7B, 46.7, 12.9, "mistral.ai/news/mixtral-of-experts: '46.7B total parameters but "
                                                  "only uses 12.9B parameters per token'"),
    "Qwen2.5-7B": (hf.QWEN2_5_7B, 7.61, None, "huggingface.co/Qwen/Qwen2.5-7B card: 'Number of Parameters: 7.61B'"),
    "Qwen3-30B-A3B": (hf.QWEN3_30B_A3B, 30.5, None, "huggingface.co/Qwen/Qwen3-30B-A3B card: '30.5B in total'"),
    "Gemma-2-9B": (hf.GEMMA_2_9B, 9.241705984, None, "Gemma 2 report, table 1: 917,504,000 embedding + "
                                                      "8,324,201,984 non-embedding"),
    "Gemma-3-27B": (hf.GEMMA_3_27B, 27.016, None, "Gemma 3 report, table 1: 1,416M embedding + 25,600M "
                                                   "non-embedding (vision encoder 417M apart)"),
    "Gemma-4-26B-A4B": (hf.GEMMA_4_26B_A4B, 25.2, 3.8, "Gemma 4 model card: '25.2B total, 3.8B active'"),
    "Gemma-4-31B": (hf.GEMMA_4_31B, 30.7, None, "Gemma 4 model card: 31B dense, 30.7B parameters"),
    "DeepSeek-V2": (hf.DEEPSEEK_V2, 236.0, None, "huggingface.co/deepseek-ai/DeepSeek-V2: '236B total parameters'"),
    "DeepSeek-V3": (hf.DEEPSEEK_V3, 671.0, None, "huggingface.co/deepseek-ai/DeepSeek-V3: '671B total parameters'"),
    "gpt-oss-120b": (hf.GPT_OSS_120B, 116.83, None, "gpt-oss model card, table 1: 116.83B total"),
    "Phi-3-mini-4k": (hf.PHI_3_MINI, 3.82, None, "huggingface.co/microsoft/Phi-3-mini-4k-instruct: '3.82B params'"),
    "Phi-4": (hf.PHI_4, 14.7, None, "huggingface.co/microsoft/phi-4: '14.7B params'"),
    "LLaDA-8B": (hf.LLADA_8B, 8.02, None, "huggingface.co/GSAI-ML/LLaDA-8B-Base: '8.02B params'"),
    "Dream-7B": (hf.DREAM_7B, 7.62, None, "huggingface.co/Dream-org/Dream-v0-Base-7B: '7.62B params'"),
}


@pytest.mark.parametrize("family", list(PUBLISHED))
def test_it_counts_each_family_within_one_percent_of_the_published_total(family):
    config, total, active, _source = PUBLISHED[family]
    record = architecture_from_config(config)
    assert record["total_params_b"] == pytest.approx(total, rel=0.01)
    if active is not None:
        assert record["active_params_b"] == pytest.approx(active, rel=0.01)


def test_it_counts_llama_3_1_8b_exactly():
    record = architecture_from_config(hf.LLAMA_3_1_8B)
    # Per layer: q 4096*4096 + k,v 2*4096*1024 + o 4096*4096 = 41,943,040; MLP 3*4096*14336 =
    # 176,160,768; two norms 8,192 -> 218,112,000 x 32 = 6,979,584,000. Embedding and untied head
    # 2*128256*4096 = 1,050,673,152; final norm 4,096. Total 8,030,261,248.
    assert record["total_params_b"] * 1e9 == pytest.approx(8_030_261_248, abs=1)
    assert record["active_params_b"] == record["total_params_b"]
    assert record["embedding_params_b"] * 1e9 == pytest.approx(1_050_673_152, abs=1)
    assert record["tied_embeddings"] is False
    assert (record["n_layers"], record["n_heads"], record["n_kv_heads"], record["head_dim"]) == (32, 32, 8, 128)
    assert record["max_context"] == 131072
    assert (record["name"], record["slug"]) == ("Llama-3.1-8B", "llama-3-1-8b")
    assert record["hf_repo"] == "meta-llama/Llama-3.1-8B"


def test_it_counts_mixtral_experts_total_and_active():
    record = architecture_from_config(hf.MIXTRAL_8X7B)
    # One expert 3*4096*14336 = 176,160,768. Per layer: attention 41,943,040 + router 4096*8 =
    # 32,768 + norms 8,192 = 41,984,000 dense; x 32 = 1,343,488,000, + embeddings 2*32000*4096 =
    # 262,144,000 + final norm 4,096 -> D = 1,605,636,096. X = 32 * 176,160,768 = 5,637,144,576.
    # total = D + 8X = 46,702,792,704; active = D + 2X = 12,879,925,248.
    assert record["total_params_b"] * 1e9 == pytest.approx(46_702_792_704, abs=1)
    assert record["active_params_b"] * 1e9 == pytest.approx(12_879_925_248, abs=1)
    assert (record["n_experts"], record["n_experts_active"], record["moe_intermediate_size"]) == (8, 2, 14336)


def test_it_counts_qwen3_moe_active_from_the_shapes():
    record = architecture_from_config(hf.QWEN3_30B_A3B)
    # Per layer: attention 2048*4096 + 2*2048*512 + 4096*2048 = 18,874,368, q/k norms 256, norms
    # 4,096, router 2048*128 = 262,144 -> 19,140,864 dense; one expert 3*2048*768 = 4,718,592.
    # 48 layers: dense 918,761,472 + embeddings 2*151936*2048 = 622,329,856 + final norm 2,048 =
    # 1,541,093,376; active = + 8 * 48 * 4,718,592 = 3,353,032,704.
    assert record["active_params_b"] * 1e9 == pytest.approx(3_353_032_704, abs=1)
    # The card's "3.3B activated" is this figure truncated (3.35B): within 2%, not 1%.
    assert record["active_params_b"] == pytest.approx(3.3, rel=0.02)
    assert record["n_kv_heads"] == 4 and record["head_dim"] == 128
    assert record["sliding_window"] is None and record["n_global_layers"] is None


def test_it_reads_deepseek_mla_shared_experts_and_leading_dense_layers():
    record = architecture_from_config(hf.DEEPSEEK_V3)
    assert record["kv_lora_rank"] == 512 and record["qk_rope_head_dim"] == 64
    assert record["n_dense_layers"] == 3 and record["n_shared_experts"] == 1
    assert record["head_dim"] is None  # MLA caches a latent: no per-head K/V width
    # MLA per layer: q_a 7168*1536 + norm 1536 + q_b 1536*128*192 + kv_a 7168*576 + norm 512 +
    # kv_b 512*128*256 + o 128*128*7168 = 187,107,328. Routed expert 3*7168*2048 = 44,040,192.
    # 58 MoE layers: X = 58 * 44,040,192 = 2,554,331,136; total 671,026,419,200 (the card: 671B).
    assert record["total_params_b"] * 1e9 == pytest.approx(671_026_419_200, abs=1)
    # active = total - (256 - 8) * X = 37,552,297,472; the README's "37B activated" is rounded
    # (1.5% below this count, embeddings included as docs/estimator.md counts them).
    assert record["active_params_b"] * 1e9 == pytest.approx(671_026_419_200 - 248 * 2_554_331_136, abs=1)
    assert "multi-token-prediction" in record["notes"]


def test_deepseek_v2_active_without_the_input_embedding_is_the_published_21b():
    record = architecture_from_config(hf.DEEPSEEK_V2)
    # The README's "21B activated" leaves out the input embedding (a lookup, 102400*5120 weights).
    assert record["active_params_b"] - 102400 * 5120 / 1e9 == pytest.approx(21.0, rel=0.01)
    assert (record["n_dense_layers"], record["n_shared_experts"], record["kv_lora_rank"]) == (1, 2, 512)


def test_it_counts_gpt_oss_biases_sinks_and_the_published_active_figure():
    record = architecture_from_config(hf.GPT_OSS_120B)
    # The gpt-oss model card counts the unembedding but not the embedding as active: 5.13B.
    input_embedding_b = 201088 * 2880 / 1e9
    assert record["active_params_b"] - input_embedding_b == pytest.approx(5.13, rel=0.01)
    assert record["n_global_layers"] == 18 and record["sliding_window"] == 128


def test_it_reads_gemma_sliding_patterns_and_gemma4_global_layers():
    gemma2 = architecture_from_config(hf.GEMMA_2_9B)
    # Gemma 2 alternates: 21 of 42 layers global; the report's count is matched to the parameter.
    assert (gemma2["n_global_layers"], gemma2["sliding_window"]) == (21, 4096)
    assert gemma2["total_params_b"] * 1e9 == pytest.approx(9_241_705_984, abs=1)
    assert gemma2["tied_embeddings"] is True  # Gemma configs tie unless they say otherwise

    gemma3 = architecture_from_config(hf.GEMMA_3_27B)
    # sliding_window_pattern 6: layers 6, 12, ..., 60 are global -> 10 of 62.
    assert (gemma3["n_global_layers"], gemma3["sliding_window"]) == (10, 1024)
    assert gemma3["vocab_size"] == 262208 and "vocab_size" in gemma3["derived_fields"]
    # The SigLIP tower: the report's 417M plus the 1152 x 5376 projector (6.2M).
    assert gemma3["vision_params_b"] == pytest.approx(0.417 + 1152 * 5376 / 1e9, rel=0.01)

    gemma4 = architecture_from_config(hf.GEMMA_4_31B)
    assert (gemma4["n_global_layers"], gemma4["global_kv_heads"], gemma4["global_head_dim"]) == (10, 4, 512)
    assert gemma4["global_kv_shared"] is True
    # Global layer attention: q 5376*16384 + k (only; V = K) 5376*2048 + o 16384*5376 =
    # 187,170,816, against 132,120,576 for a sliding layer's q/k/v/o at head_dim 256.
    assert gemma4["total_params_b"] == pytest.approx(30.7, rel=0.01)


def test_it_marks_llada_and_dream_as_full_attention_diffusion():
    for config in (hf.LLADA_8B, hf.DREAM_7B):
        record = architecture_from_config(config)
        assert (record["generation_mode"], record["diffusion_attention"]) == ("block_diffusion", "full")
    llada = architecture_from_config(hf.LLADA_8B)
    assert (llada["hidden_size"], llada["n_layers"], llada["intermediate_size"]) == (4096, 32, 12288)
    assert llada["tied_embeddings"] is False and llada["max_context"] == 4096


@pytest.mark.django_db
@pytest.mark.parametrize("family", list(PUBLISHED))
def test_every_record_passes_the_catalog_models_validation(family):
    record = architecture_from_config(PUBLISHED[family][0], name=f"imported {family}")
    fields = {f.name for f in ModelArchitecture._meta.concrete_fields}
    instance = ModelArchitecture(**{k: v for k, v in record.items() if k in fields})
    instance.full_clean()


@pytest.mark.parametrize("key", ["num_hidden_layers", "hidden_size", "num_attention_heads", "vocab_size"])
def test_it_names_the_missing_key(key):
    config = {k: v for k, v in hf.LLAMA_3_1_8B.items() if k != key}
    with pytest.raises(ConfigImportError) as caught:
        architecture_from_config(config)
    assert caught.value.key == key
    assert f"'{key}'" in str(caught.value)


def test_it_names_a_missing_key_inside_text_config():
    config = {**hf.GEMMA_3_27B, "text_config": {k: v for k, v in hf.GEMMA_3_27B["text_config"].items()
                                                if k != "hidden_size"}}
    with pytest.raises(ConfigImportError, match="'text_config.hidden_size'"):
        architecture_from_config(config)


def test_it_refuses_experts_without_a_top_k_and_wrong_types():
    with pytest.raises(ConfigImportError, match="num_experts_per_tok"):
        architecture_from_config({k: v for k, v in hf.MIXTRAL_8X7B.items() if k != "num_experts_per_tok"})
    with pytest.raises(ConfigImportError, match="'hidden_size' must be a positive integer, got '4096'"):
        architecture_from_config({**hf.LLAMA_3_1_8B, "hidden_size": "4096"})
    with pytest.raises(ConfigImportError, match="model_type"):
        architecture_from_config({k: v for k, v in hf.LLAMA_3_1_8B.items() if k != "model_type"})


def test_it_parses_json_only():
    assert config_from_text(b'{"model_type": "llama"}') == {"model_type": "llama"}
    with pytest.raises(ConfigImportError, match="Not valid JSON"):
        config_from_text("model_type = 'llama'")
    with pytest.raises(ConfigImportError, match="JSON object"):
        config_from_text("[1, 2]")
