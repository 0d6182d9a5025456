"""The commands that run a model the way its estimate assumes, built from catalog fields.

Nothing here names a model: the Hugging Face repo, the quantization's family and name, the
runtime of the estimate, the context and the device count make the command. A GGUF file is made
from the repo's checkpoint with llama.cpp's own tools (no third-party GGUF repo is guessed);
vLLM and SGLang read safetensors checkpoints (FP8 quantised on load); block-diffusion models run
through transformers with the model's own code, the one path every one of them has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GGUF_TYPE = re.compile(r"^[A-Z0-9_]+$")   # llama-quantize's type names: Q4_K_M, IQ4_XS, Q8_0, BF16 ...
GGUF_OUTTYPES = {"F32": "f32", "F16": "f16", "BF16": "bf16"}   # convert_hf_to_gguf.py writes these itself
PREQUANTISED = {"awq": "AWQ", "gptq": "GPTQ", "nvfp4": "NVFP4", "mxfp4": "MXFP4"}
TORCH_DTYPES = {"bf16": "torch.bfloat16", "fp16": "torch.float16", "fp32": "torch.float32"}


@dataclass(frozen=True)
class RunCommand:
    title: str
    code: str
    note: str = ""


@dataclass(frozen=True)
class RunSetup:
    """What a command needs to know, all of it from the catalog and the estimate."""

    hf_repo: str
    model_slug: str
    diffusion: bool
    quant_name: str
    quant_family: str
    compute_dtype: str
    runtime: str
    context_tokens: int
    device_count: int
    layers_on_device: int | None      # offload: the layers the device keeps
    block_size: int | None = None
    tokens_per_forward: float | None = None


def run_commands(setup: RunSetup) -> list[RunCommand]:
    """Commands for the estimate's runtime (and its usual companion), or [] when none is known."""
    if not setup.hf_repo:
        return []
    if setup.runtime == "llama-cpp" and setup.quant_family == "gguf":
        return _llama_cpp(setup) + ([] if setup.diffusion else [_ollama(setup)])
    if setup.runtime in ("vllm", "sglang"):
        commands = [_vllm(setup), _sglang(setup)]
        return commands if setup.runtime == "vllm" else commands[::-1]
    if setup.runtime == "hf-transformers":
        return [_transformers(setup)]
    return []


def _stem(setup: RunSetup) -> str:
    return setup.hf_repo.rsplit("/", 1)[-1]


def _gguf_file(setup: RunSetup) -> str:
    return f"{_stem(setup)}-{setup.quant_name}.gguf"


def _llama_cpp(setup: RunSetup) -> list[RunCommand]:
    stem, local = _stem(setup), _stem(setup)
    outtype = GGUF_OUTTYPES.get(setup.quant_name)
    lines = [f"huggingface-cli download {setup.hf_repo} --local-dir {local}"]
    note = ""
    if outtype:
        lines.append(f"python convert_hf_to_gguf.py {local} --outtype {outtype} --outfile {_gguf_file(setup)}")
    elif GGUF_TYPE.match(setup.quant_name):
        lines.append(f"python convert_hf_to_gguf.py {local} --outtype bf16 --outfile {stem}-BF16.gguf")
        if setup.quant_name.startswith("IQ"):
            lines.append(f"llama-imatrix -m {stem}-BF16.gguf -f calibration.txt -o imatrix.dat")
            lines.append(f"llama-quantize --imatrix imatrix.dat {stem}-BF16.gguf {_gguf_file(setup)} {setup.quant_name}")
            note = "IQ types need an importance matrix: calibration.txt is any representative text."
        else:
            lines.append(f"llama-quantize {stem}-BF16.gguf {_gguf_file(setup)} {setup.quant_name}")
    else:
        note = f"llama-quantize has no type named {setup.quant_name}: use a published {setup.quant_name} GGUF file."
    if setup.diffusion:
        lines.append(f"llama-diffusion-cli -m {_gguf_file(setup)} -c {setup.context_tokens} -ngl 99 -p \"Hello\"")
        note = (note + " " if note else "") + ("llama.cpp's diffusion example supports a few diffusion "
                                               "architectures only; check that it lists this one.")
    else:
        serve = f"llama-server -m {_gguf_file(setup)} -c {setup.context_tokens} -ngl {_gpu_layers(setup)}"
        if setup.device_count > 1:
            serve += f" --split-mode layer --tensor-split {','.join(['1'] * setup.device_count)}"
        lines.append(serve)
    return [RunCommand(title="llama.cpp", code="\n".join(lines), note=note)]


def _gpu_layers(setup: RunSetup) -> str:
    # Offload: keep on the device the layers the estimate puts there; otherwise all of them.
    return str(setup.layers_on_device) if setup.layers_on_device is not None else "99"


def _ollama(setup: RunSetup) -> RunCommand:
    name = f"{setup.model_slug}-{setup.quant_name.lower()}"
    code = "\n".join([
        f"printf 'FROM ./{_gguf_file(setup)}\\nPARAMETER num_ctx {setup.context_tokens}\\n"
        f"PARAMETER num_gpu {_gpu_layers(setup)}\\n' > Modelfile",
        f"ollama create {name} -f Modelfile",
        f"ollama run {name}",
    ])
    return RunCommand(title="Ollama", code=code, note="Uses the GGUF file the llama.cpp steps make.")


def _checkpoint(setup: RunSetup) -> tuple[str, str]:
    """The checkpoint a server loads, and a note when it is not the catalog's repo itself."""
    label = PREQUANTISED.get(setup.quant_family)
    if label:
        return f"<{label} export of {setup.hf_repo}>", (
            f"{label} is read from a pre-quantised checkpoint: give the path or repo of a {label} export.")
    return setup.hf_repo, ""


def _vllm(setup: RunSetup) -> RunCommand:
    checkpoint, note = _checkpoint(setup)
    parts = [f"vllm serve {checkpoint}", f"--max-model-len {setup.context_tokens}"]
    if setup.device_count > 1:
        parts.append(f"--tensor-parallel-size {setup.device_count}")
    if setup.quant_family == "fp8":
        parts.append("--quantization fp8")
    elif setup.quant_family == "full":
        parts.append(f"--dtype {'float16' if setup.compute_dtype == 'fp16' else 'bfloat16'}")
    if setup.diffusion:
        parts.append("--trust-remote-code")
    return RunCommand(title="vLLM", code=" ".join(parts), note=note)


def _sglang(setup: RunSetup) -> RunCommand:
    checkpoint, note = _checkpoint(setup)
    parts = [f"python -m sglang.launch_server --model-path {checkpoint}", f"--context-length {setup.context_tokens}"]
    if setup.device_count > 1:
        parts.append(f"--tp {setup.device_count}")
    if setup.quant_family == "fp8":
        parts.append("--quantization fp8")
    if setup.diffusion:
        parts.append("--trust-remote-code")
    return RunCommand(title="SGLang", code=" ".join(parts), note=note)


def _transformers(setup: RunSetup) -> RunCommand:
    dtype = TORCH_DTYPES.get(setup.compute_dtype, "torch.bfloat16")
    auto = "AutoModel" if setup.diffusion else "AutoModelForCausalLM"
    lines = ["import torch", f"from transformers import {auto}, AutoTokenizer"]
    extra = ""
    if setup.quant_family == "bitsandbytes":
        lines[-1] += ", BitsAndBytesConfig"
        extra = (", quantization_config=BitsAndBytesConfig(load_in_8bit=True)" if setup.compute_dtype == "int8" else
                 ", quantization_config=BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=\"nf4\")")
    remote = ", trust_remote_code=True" if setup.diffusion else ""
    lines += [
        f"tokenizer = AutoTokenizer.from_pretrained(\"{setup.hf_repo}\"{remote})",
        f"model = {auto}.from_pretrained(\"{setup.hf_repo}\", torch_dtype={dtype}, device_map=\"auto\"{remote}{extra})",
    ]
    note = ""
    if setup.diffusion:
        block = f"block length {setup.block_size}" if setup.block_size else "its block length"
        per_forward = (f", about {setup.tokens_per_forward:g} tokens committed per forward" if setup.tokens_per_forward
                       else "")
        note = (f"Generate with the model card's diffusion sampling call ({block}{per_forward}); "
                "the estimate assumes that schedule.")
    code = "python - <<'EOF'\n" + "\n".join(lines) + "\nEOF"
    return RunCommand(title="transformers", code=code, note=note)
