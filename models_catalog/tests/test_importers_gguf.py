"""GGUF import: exact bytes per tensor group from the header, clear refusals, header-only reads."""

from __future__ import annotations

import pytest

from models_catalog.importers.gguf_file import GGUFImportError, gguf_read
from models_catalog.tests.gguf_files import write_sparse_giant, write_tiny_llama


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_it_reads_exact_bytes_per_group_of_a_mixed_type_file(tmp_path):
    summary = gguf_read(write_tiny_llama(tmp_path / "tiny.gguf"))
    groups = summary["groups"]
    # hidden 256, 2 layers, vocab 512, FFN 512, 2 KV heads of 64 (K/V 128 wide).
    # Embedding F16: 512*256 = 131,072 weights x 2 bytes = 262,144.
    assert (groups["embedding"]["params"], groups["embedding"]["bytes"]) == (131_072, 262_144)
    # Attention Q8_0 (34 bytes per 32): 2 x (256*256 + 128*256 + 128*256 + 256*256) = 393,216 weights
    # -> 393,216 / 32 * 34 = 417,792 bytes, 8.5 bits per weight.
    assert (groups["attention"]["params"], groups["attention"]["bytes"]) == (393_216, 417_792)
    assert groups["attention"]["bits_per_weight"] == 8.5
    assert groups["attention"]["types"] == {"Q8_0": 8}
    # FFN Q4_K (144 bytes per 256): 2 x 3 x 512*256 = 786,432 weights -> 442,368 bytes, 4.5 bpw.
    assert (groups["ffn"]["params"], groups["ffn"]["bytes"], groups["ffn"]["bits_per_weight"]) == (786_432, 442_368, 4.5)
    # LM head Q6_K (210 bytes per 256): 131,072 -> 107,520 bytes, 6.5625 bpw.
    assert (groups["lm_head"]["bytes"], groups["lm_head"]["bits_per_weight"]) == (107_520, 6.5625)
    # Five F32 norms of 256: 5,120 bytes.
    assert (groups["norms"]["params"], groups["norms"]["bytes"]) == (1_280, 5_120)
    # 262,144 + 417,792 + 442,368 + 107,520 + 5,120 = 1,234,944 bytes over 1,443,072 weights.
    assert summary["tensor_bytes"] == 1_234_944
    assert summary["quantization"]["bits_per_weight"] == pytest.approx(1_234_944 * 8 / 1_443_072)
    assert summary["file_type"] == "Q4_K_M" and summary["tensor_count"] == 21
    architecture = summary["architecture"]
    assert architecture["total_params_b"] * 1e9 == pytest.approx(1_443_072)
    assert (architecture["n_layers"], architecture["hidden_size"], architecture["n_kv_heads"]) == (2, 256, 2)
    assert (architecture["vocab_size"], architecture["head_dim"], architecture["tied_embeddings"]) == (512, 64, False)
    assert architecture["name"] == "Tiny Llama"


def test_it_counts_only_the_routed_experts_a_token_uses_as_active(tmp_path):
    summary = gguf_read(write_tiny_llama(tmp_path / "moe.gguf", experts=4, top_k=2))
    experts = summary["groups"]["experts"]
    # 2 layers x 3 tensors x 4 experts x 512*256 = 3,145,728 expert weights, Q4_K: 1,769,472 bytes.
    assert (experts["params"], experts["bytes"]) == (3_145_728, 1_769_472)
    architecture = summary["architecture"]
    # Non-expert weights: embedding 131,072 + attention 393,216 + routers 2*4*256 = 2,048 +
    # norms 1,280 + LM head 131,072 = 658,688; total 3,804,416; active 658,688 + 2/4 of the experts.
    assert architecture["total_params_b"] * 1e9 == pytest.approx(3_804_416)
    assert architecture["active_params_b"] * 1e9 == pytest.approx(658_688 + 1_572_864)
    assert (architecture["n_experts"], architecture["n_experts_active"]) == (4, 2)


def test_a_file_without_an_output_tensor_has_tied_embeddings(tmp_path):
    summary = gguf_read(write_tiny_llama(tmp_path / "tied.gguf", tied=True))
    assert summary["architecture"]["tied_embeddings"] is True
    assert "lm_head" not in summary["groups"]


def test_it_names_the_tensor_a_truncated_file_cuts(tmp_path):
    path = write_tiny_llama(tmp_path / "cut.gguf")
    size = path.stat().st_size
    with open(path, "r+b") as handle:
        handle.truncate(size - 1000)
    with pytest.raises(GGUFImportError, match=r"cut\.gguf is truncated: the tensor 'output\.weight' ends at byte"):
        gguf_read(path)


def test_it_refuses_a_header_cut_short(tmp_path):
    path = write_tiny_llama(tmp_path / "header.gguf")
    data = path.read_bytes()[:200]
    path.write_bytes(data)
    with pytest.raises(GGUFImportError, match="not a readable GGUF file: its header is cut short or malformed"):
        gguf_read(path)


def test_it_refuses_what_is_not_a_gguf(tmp_path):
    path = tmp_path / "config.gguf"
    path.write_text('{"model_type": "llama", "hidden_size": 4096}')
    with pytest.raises(GGUFImportError, match="does not start with the GGUF magic"):
        gguf_read(path)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(GGUFImportError, match="too short"):
        gguf_read(empty)
    with pytest.raises(GGUFImportError, match="No such file"):
        gguf_read(tmp_path / "missing.gguf")


def test_a_file_of_several_gb_is_read_header_only(tmp_path):
    path, declared = write_sparse_giant(tmp_path / "giant.gguf", rows=131_072)
    stat = path.stat()
    # 4 layers x 2 tensors x 131,072 rows x 8192/256 blocks x 144 bytes = 4,831,838,208 bytes declared,
    # and the file really is that long, but sparse: almost nothing is on disk.
    assert declared == 4_831_838_208
    assert stat.st_size > declared
    assert stat.st_blocks * 512 < 1024 * 1024
    before = _rss_bytes()
    summary = gguf_read(path)
    after = _rss_bytes()
    assert summary["tensor_bytes"] == declared
    assert summary["groups"]["ffn"]["bits_per_weight"] == 4.5
    # Reading 4.8 GB would add 4.8 GB of resident pages; the header costs next to nothing.
    assert after - before < 32 * 1024 * 1024


def test_header_only_accepts_the_start_of_a_file_with_the_same_byte_counts(tmp_path):
    whole = write_tiny_llama(tmp_path / "tiny.gguf")
    start = tmp_path / "start.gguf"
    start.write_bytes(whole.read_bytes()[:4096])
    summary = gguf_read(start, header_only=True)
    assert summary["tensor_bytes"] == gguf_read(whole)["tensor_bytes"] == 1_234_944
    assert summary["complete"] is False
    with pytest.raises(GGUFImportError, match="truncated"):
        gguf_read(start)
