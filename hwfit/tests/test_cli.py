"""The `hwfit` command line against the local catalog: detect, fit, estimate and the two imports."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hwfit.cli import main
from hwfit.cli.probes import probe_machine
from models_catalog.models import ModelArchitecture
from models_catalog.tests import hf_configs
from models_catalog.tests.gguf_files import write_tiny_llama

REPO = Path(__file__).resolve().parents[2]

# Probe outputs of three machines, as the tools print them.
NVIDIA = {
    ("nvidia-smi",): "NVIDIA GeForce RTX 4090, 24564\nNVIDIA GeForce RTX 4090, 24564\n",
}
AMD = {
    ("rocm-smi",): json.dumps({"card0": {"Card Series": "Radeon RX 7900 XTX", "Card Model": "0x744c",
                                         "Card Vendor": "Advanced Micro Devices, Inc. [AMD/ATI]",
                                         "GFX Version": "gfx1100", "VRAM Total Memory (B)": "25753026560",
                                         "VRAM Total Used Memory (B)": "1073741824"}}),
}
APPLE = {
    ("sysctl", "-n", "machdep.cpu.brand_string"): "Apple M2 Max\n",
    ("sysctl", "-n", "hw.memsize"): str(64 * 2**30) + "\n",
    ("sysctl", "-n", "hw.ncpu"): "12\n",
    ("system_profiler",): json.dumps({"SPDisplaysDataType": [{"sppci_model": "Apple M2 Max", "sppci_cores": "38"}]}),
}
LINUX_FILES = {
    "/proc/cpuinfo": "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Gold 6338\n"
                     "flags\t\t: fpu sse avx avx2 fma avx512f\n\nprocessor\t: 1\n",
    "/proc/meminfo": "MemTotal:       131072000 kB\nMemFree:        1000 kB\n",
}


def fake_runner(outputs: dict[tuple[str, ...], str]):
    """A probe runner answering from `outputs` (keyed by an argv prefix); any other tool is missing."""

    def run(argv):
        for prefix, output in outputs.items():
            if tuple(argv[: len(prefix)]) == prefix:
                return output
        return None

    return run


def cli(*argv: str, run=None, read=None) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out, run=run, read=read)
    return code, out.getvalue()


def _write(tmp_path: Path, config: dict, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config))
    return path


# --- import-config ------------------------------------------------------------------------------

@pytest.mark.django_db
def test_import_config_dry_run_prints_the_architecture_and_touches_no_database(
        tmp_path, django_assert_num_queries):
    path = _write(tmp_path, hf_configs.QWEN3_30B_A3B)
    before = ModelArchitecture.objects.count()
    with django_assert_num_queries(0):
        code, out = cli("import-config", str(path), "--dry-run", "--json")
    assert code == 0
    record = json.loads(out)
    # 30,532,122,624 and 3,353,032,704 parameters (models_catalog/tests/test_importers_hf_config.py).
    assert record["total_params_b"] == pytest.approx(30.532122624)
    assert record["active_params_b"] == pytest.approx(3.353032704)
    assert (record["n_experts"], record["n_experts_active"]) == (128, 8)
    assert ModelArchitecture.objects.count() == before


def test_python_m_hwfit_dry_run_works_without_any_database(tmp_path):
    path = _write(tmp_path, hf_configs.LLAMA_3_1_8B)
    # A database URL nothing listens on: a dry run must not need it.
    env = {**os.environ, "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none"}
    done = subprocess.run([sys.executable, "-m", "hwfit", "import-config", str(path), "--dry-run", "--json"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total_params_b"] == pytest.approx(8.030261248)


@pytest.mark.django_db
def test_import_config_saves_once_and_refuses_a_duplicate(tmp_path, capsys):
    path = _write(tmp_path, hf_configs.PHI_4)
    code, out = cli("import-config", str(path), "--name", "Phi-4 (mine)")
    assert code == 0 and "saved Phi-4 (mine) as 'phi-4-mine'" in out
    saved = ModelArchitecture.objects.get(slug="phi-4-mine")
    assert saved.total_params_b == pytest.approx(14.6595072)
    code, _ = cli("import-config", str(path), "--name", "Phi-4 (mine)")
    assert code == 2
    assert "not saved: name: Model architecture with this Name already exists" in capsys.readouterr().err


@pytest.mark.parametrize("content, message", [
    ("not json", "Not valid JSON"),
    ('{"model_type": "llama", "num_hidden_layers": 2}', "config.json has no 'hidden_size'"),
])
def test_import_config_bad_input_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "config.json"
    path.write_text(content)
    code, _ = cli("import-config", str(path), "--dry-run")
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    code, _ = cli("import-config", str(tmp_path / "missing.json"), "--dry-run")
    assert code == 2 and "No such file or directory" in capsys.readouterr().err


# --- import-gguf --------------------------------------------------------------------------------

def test_import_gguf_dry_run_prints_exact_bytes(tmp_path):
    path = write_tiny_llama(tmp_path / "tiny.gguf")
    code, out = cli("import-gguf", str(path), "--dry-run", "--json")
    assert code == 0
    summary = json.loads(out)
    # 1,234,944 bytes of tensors (models_catalog/tests/test_importers_gguf.py).
    assert summary["tensor_bytes"] == 1_234_944
    assert summary["groups"]["ffn"]["bits_per_weight"] == 4.5
    code, out = cli("import-gguf", str(path), "--dry-run")
    assert code == 0 and "Q4_K x6" in out and "1,234,944 bytes of tensors" in out


def test_import_gguf_refuses_a_truncated_file(tmp_path, capsys):
    path = write_tiny_llama(tmp_path / "tiny.gguf")
    path.write_bytes(path.read_bytes()[:-4096])
    code, _ = cli("import-gguf", str(path), "--dry-run")
    err = capsys.readouterr().err
    assert code == 2 and "tiny.gguf is truncated" in err and "Traceback" not in err


# --- estimate -----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_estimate_of_a_gguf_uses_the_files_exact_bytes(tmp_path):
    path = write_tiny_llama(tmp_path / "tiny.gguf")
    code, out = cli("estimate", str(path), "--device", "nvidia-geforce-rtx-4090", "--json")
    assert code == 0
    result = json.loads(out)
    # The file's 1,234,944 bytes over 1,443,072 weights: the weights take exactly those bytes.
    assert result["memory"]["weights_bytes"] == pytest.approx(1_234_944, rel=1e-9)
    assert result["quantization"]["inline"] is True and result["verdict"] == "fits"


@pytest.mark.django_db
def test_estimate_of_a_catalog_model_matches_the_service(tmp_path):
    from estimator import services

    code, out = cli("estimate", "llama-3-1-8b", "--quantization", "q4-k-m", "--device", "nvidia-geforce-rtx-4090",
                    "--context", "8192", "--json")
    assert code == 0
    expected = services.estimate_one(scenario={"model": "llama-3-1-8b", "quantization": "q4-k-m",
                                               "device": "nvidia-geforce-rtx-4090", "context_tokens": 8192})
    assert json.loads(out)["tokens_per_s"] == pytest.approx(expected["tokens_per_s"])
    code, out = cli("estimate", "llama-3-1-8b", "--quantization", "q4-k-m", "--device", "nvidia-geforce-rtx-4090")
    assert code == 0 and "Verdict              fits" in out


@pytest.mark.django_db
def test_estimate_names_an_unknown_device(capsys):
    code, _ = cli("estimate", "llama-3-1-8b", "--quantization", "q4-k-m", "--device", "no-such-card")
    err = capsys.readouterr().err
    assert code == 2 and "device: Unknown device 'no-such-card'" in err


# --- detect and fit on this machine and on faked ones -----------------------------------------------

def _proc(name: str) -> str:
    return Path(name).read_text()


@pytest.mark.django_db
def test_detect_on_this_machine_finds_its_cpu_and_memory():
    code, out = cli("detect", "--json")
    assert code == 0
    machine = json.loads(out)["machine"]
    cpu = next(line.split(":", 1)[1].strip() for line in _proc("/proc/cpuinfo").splitlines()
               if line.startswith(("model name", "Model", "Hardware")))
    kib = int(next(line.split()[1] for line in _proc("/proc/meminfo").splitlines() if line.startswith("MemTotal")))
    assert machine["host"]["cpu"] == cpu
    assert machine["host"]["memory_gb"] == pytest.approx(kib / 2**20, abs=0.05)  # KiB -> GiB
    assert machine["host"]["measured_bandwidth_gbs"] > 0
    code, out = cli("detect")
    assert code == 0 and cpu in out


@pytest.mark.django_db
def test_fit_on_this_machine_lists_what_runs_best_first():
    code, out = cli("fit", "--json")
    assert code == 0
    answer = json.loads(out)
    results = answer["results"]
    assert results, "a 1B model at Q4_K_M fits in any machine that runs the test suite"
    assert {r["verdict"] for r in results} <= {"fits", "offload"}
    assert "Llama 3.2 1B" in {r["model"]["name"] for r in results}
    keys = [(r["verdict"] != "fits", "SS S A B C F ?".split().index(r["grade"]), -(r["tokens_per_s"] or 0))
            for r in results]
    assert keys == sorted(keys)
    code, out = cli("fit", "--limit", "3")
    assert code == 0 and len(out.strip().splitlines()) == 1 + 2 + 3  # device line, header, rule, 3 rows


@pytest.mark.django_db
def test_detect_matches_two_nvidia_cards_to_the_catalog():
    code, out = cli("detect", "--json", run=fake_runner(NVIDIA), read=LINUX_FILES.get)
    answer = json.loads(out)
    assert answer["device"]["ref"] == "nvidia-geforce-rtx-4090" and answer["device"]["count"] == 2
    assert answer["machine"]["accelerators"][0]["memory_gb"] == pytest.approx(24.0)  # 24564 MiB
    assert answer["machine"]["host"]["cpu"] == "Intel(R) Xeon(R) Gold 6338"
    assert answer["machine"]["host"]["memory_gb"] == pytest.approx(125.0)  # 131,072,000 KiB


@pytest.mark.django_db
def test_fit_on_the_faked_nvidia_machine_uses_both_cards():
    code, out = cli("fit", "--json", "--limit", "5", run=fake_runner(NVIDIA), read=LINUX_FILES.get)
    answer = json.loads(out)
    assert code == 0 and answer["device"]["ref"] == "nvidia-geforce-rtx-4090"
    assert all(r["workload"]["device_count"] == 2 for r in answer["results"])
    assert answer["results"][0]["device"]["slug"] == "nvidia-geforce-rtx-4090"


@pytest.mark.django_db
def test_detect_matches_an_amd_card_from_rocm_smi():
    code, out = cli("detect", "--json", run=fake_runner(AMD), read=LINUX_FILES.get)
    answer = json.loads(out)
    assert answer["device"]["ref"] == "amd-radeon-rx-7900-xtx"
    # 25,753,026,560 bytes = 23.98 GiB.
    assert answer["machine"]["accelerators"][0]["memory_gb"] == pytest.approx(24.0)


@pytest.mark.django_db
def test_detect_reads_an_apple_machine_with_its_own_memory():
    code, out = cli("detect", "--json", run=fake_runner(APPLE), read=lambda path: None)
    answer = json.loads(out)
    # The 38-core M2 Max row (its bandwidth, peaks, calibrations) at this machine's 64 GiB, one of
    # the sizes it is sold in, not the row's default 96.
    assert answer["device"]["ref"] == "apple-m2-max-38-core-gpu" and answer["device"]["memory_gb"] == 64.0
    assert answer["machine"]["accelerators"][0]["gpu_cores"] == 38
    code, out = cli("fit", "--json", "--limit", "3", run=fake_runner(APPLE), read=lambda path: None)
    results = json.loads(out)["results"]
    assert code == 0 and results and results[0]["device"]["slug"] == "apple-m2-max-38-core-gpu"
    # 75% of 64 GiB usable (macOS lets the GPU wire about three quarters of unified memory).
    assert results[0]["memory"]["usable_bytes"] == pytest.approx(0.75 * 64 * 2**30)


@pytest.mark.django_db
def test_an_apple_memory_size_the_catalog_does_not_list_gets_an_inline_copy():
    outputs = {**APPLE, ("sysctl", "-n", "hw.memsize"): str(48 * 2**30)}
    code, out = cli("detect", "--json", run=fake_runner(outputs), read=lambda path: None)
    device = json.loads(out)["device"]["ref"]
    assert isinstance(device, dict) and device["memory_gb"] == 48.0 and device["memory_bandwidth_gbs"] == 400.0


def test_an_unmatched_cpu_is_an_inline_device_from_the_probe():
    machine = probe_machine(run=fake_runner({}), read=LINUX_FILES.get)
    assert machine.accelerators == []
    assert (machine.host.vendor, machine.host.cores, machine.host.flags) == ("Intel", 2, ["avx", "avx2", "fma", "avx512f"])


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.django_db
def test_fit_colours_grades_on_a_terminal_only(monkeypatch):
    monkeypatch.delenv("NO_COLOR", raising=False)
    terminal = _Terminal()
    assert main(["fit", "--device", "nvidia-geforce-rtx-4090", "--limit", "3"], out=terminal) == 0
    assert "\033[1;32mSS\033[0m" in terminal.getvalue()  # an 8B model at Q4_K_M on a 4090 is SS
    code, plain = cli("fit", "--device", "nvidia-geforce-rtx-4090", "--limit", "3")
    assert code == 0 and "\033[" not in plain
    monkeypatch.setenv("NO_COLOR", "1")
    terminal = _Terminal()
    main(["fit", "--device", "nvidia-geforce-rtx-4090", "--limit", "3"], out=terminal)
    assert "\033[" not in terminal.getvalue()


@pytest.mark.django_db
def test_detect_matches_the_output_of_a_real_h200_machine():
    # Captured on an H200 host: `nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`,
    # the first "model name" of /proc/cpuinfo and MemTotal of /proc/meminfo.
    files = {"/proc/cpuinfo": "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\n",
             "/proc/meminfo": "MemTotal:       131981020 kB\n"}
    code, out = cli("detect", "--json", run=fake_runner({("nvidia-smi",): "NVIDIA H200, 143771\n"}), read=files.get)
    answer = json.loads(out)
    assert code == 0 and answer["device"]["ref"] == "nvidia-h200-sxm"
    assert answer["machine"]["accelerators"][0]["memory_gb"] == pytest.approx(140.4)  # 143,771 MiB
    assert answer["machine"]["host"]["memory_gb"] == pytest.approx(125.9)  # 131,981,020 KiB


@pytest.mark.django_db
@pytest.mark.parametrize("argv, message", [
    (("fit", "--device", "nope"), "device: Unknown device 'nope'"),
    (("fit", "--device", "nvidia-geforce-rtx-4090", "--batch", "0"), "batch: Ensure this value is greater than or equal to 1."),
    (("fit", "--device", "nvidia-geforce-rtx-4090", "--quantization", "q9"), "Unknown quantization(s): q9."),
    (("estimate", "llama-3-1-8b", "--device", "nvidia-geforce-rtx-4090"), "give --quantization"),
])
def test_bad_fit_and_estimate_input_is_named_on_one_line(capsys, argv, message):
    code, _ = cli(*argv)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
