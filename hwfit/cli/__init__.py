"""`hwfit`: what runs on this machine, estimates, and model imports from the command line.

    hwfit detect                          this machine's accelerators, CPU and memory, matched to the catalog
    hwfit fit [--device SLUG]             what runs on it (or on a catalog device), best first
    hwfit estimate MODEL [--device SLUG]  one model (slug, config.json or .gguf) at one quantization
    hwfit import-config PATH [--dry-run]  a Hugging Face config.json -> a catalog model
    hwfit import-gguf PATH [--dry-run]    a GGUF file's header -> a catalog model and its exact bytes

Offline by default, against the local catalog through the services the API uses; `--server URL`
asks a hwfit server's REST API instead (HWFIT_TOKEN authenticates saving). Bad input is a one-line
message on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from hwfit.cli import probes, render
from hwfit.cli.backends import CLIError, LocalBackend, ServerBackend

DEFAULT_QUANTIZATIONS = ("q4-k-m", "q8-0", "f16")
VERDICT_ORDER = {"fits": 0, "offload": 1, "multi_device": 2, "no_fit": 3, "unknown": 4, "unsupported": 5}
GRADE_ORDER = {"SS": 0, "S": 1, "A": 2, "B": 3, "C": 4, "F": 5, "?": 6}
WORKLOAD_OPTIONS = ("context_tokens", "prompt_tokens", "gen_tokens", "batch", "mode")
# The model fields an inline estimate reads (estimator/core/schema.py plus the family shown).
_INLINE_MODEL_EXCLUDE = ("source", "notes", "derived_fields", "org", "hf_repo", "attention_pattern")


@dataclass
class Context:
    args: argparse.Namespace
    out: TextIO
    run: probes.Runner
    read: probes.FileReader
    _backend: Any = None

    @property
    def backend(self) -> LocalBackend | ServerBackend:
        if self._backend is None:
            server = self.args.server
            self._backend = ServerBackend(server, os.environ.get("HWFIT_TOKEN")) if server else LocalBackend()
        return self._backend

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")


@dataclass
class DeviceChoice:
    ref: str | dict[str, Any]   # a catalog slug, or an inline device
    label: str
    how: str
    count: int = 1
    memory_gb: float | None = None  # this machine's memory, for a part sold in several sizes

    def workload(self) -> dict[str, Any]:
        """What the estimate API needs besides the device itself: the count and the memory size."""
        extra: dict[str, Any] = {"device_count": self.count} if self.count > 1 else {}
        if self.memory_gb is not None:
            extra["memory_gb"] = self.memory_gb
        return extra


# --- Devices -----------------------------------------------------------------------------------

def _probe(ctx: Context) -> probes.Machine:
    machine = probes.probe_machine(run=ctx.run, read=ctx.read)
    if not machine.accelerators and not getattr(ctx.args, "no_measure", False):
        probes.measure_host(machine.host)
    return machine


def _with_probed_memory(device: dict[str, Any], memory_gb: float | None, host: probes.Host) -> dict[str, Any]:
    """A catalog row whose memory is a configuration (Apple, CPUs): the row with this machine's memory."""
    inline = {key: value for key, value in device.items()
              if value is not None and key not in ("slug", "memory_options_gb")}
    inline["memory_gb"] = memory_gb
    if inline.get("memory_bandwidth_gbs") is None and host.measured_bandwidth_gbs:
        inline["memory_bandwidth_gbs"] = host.measured_bandwidth_gbs
    return inline


def _configurable(device: dict[str, Any], memory_gb: float | None, host: probes.Host, probe: str) -> DeviceChoice:
    """An Apple chip or a CPU: the catalog row at this machine's memory size.

    The row itself (its calibrations and offers apply) when it states a bandwidth and the size is
    one it is sold with; otherwise an inline copy with the probed memory (and a measured bandwidth).
    """
    options = device.get("memory_options_gb") or []
    sold = not options or any(abs(memory_gb - size) < 0.05 for size in options) if memory_gb else False
    label = f"{device['name']}, {memory_gb:g} GB" if memory_gb else device["name"]
    if device.get("memory_bandwidth_gbs") and sold:
        return DeviceChoice(device["slug"], label, f"catalog device {device['slug']} with this machine's memory "
                                                   f"(from {probe})", memory_gb=memory_gb)
    return DeviceChoice(_with_probed_memory(device, memory_gb, host), label,
                        f"catalog device {device['slug']} copied with this machine's memory (from {probe})")


def _choose_device(ctx: Context, machine: probes.Machine) -> DeviceChoice:
    devices = ctx.backend.devices()
    gpus = sorted(machine.accelerators, key=lambda a: -(a.memory_gb or 0))
    if gpus:
        best = gpus[0]
        matched = probes.match_device(best.name, best.memory_gb, devices, kind=best.kind, gpu_cores=best.gpu_cores)
        if matched and best.kind == "gpu":
            return DeviceChoice(matched["slug"], matched["name"], f"catalog device (from {best.probe})", best.count)
        if matched:
            return _configurable(matched, best.memory_gb, machine.host, best.probe)
        inline = {"name": best.name, "vendor": best.vendor, "kind": best.kind, "memory_gb": best.memory_gb}
        return DeviceChoice(inline, best.name, f"not in the catalog: inline device from {best.probe} (memory only)",
                            best.count)
    host = machine.host
    matched = probes.match_device(host.cpu, host.memory_gb, devices, kind="cpu")
    if matched:
        return _configurable(matched, host.memory_gb, host, "/proc/cpuinfo")
    return DeviceChoice(probes.inline_device(machine), probes.inline_device(machine)["name"],
                        "not in the catalog: inline CPU device from /proc/meminfo"
                        + (" and a measured copy bandwidth" if host.measured_bandwidth_gbs else ""))


def _device(ctx: Context) -> DeviceChoice:
    if ctx.args.device:
        return DeviceChoice(ctx.args.device, ctx.args.device, "given")
    return _choose_device(ctx, _probe(ctx))


def cmd_detect(ctx: Context) -> int:
    machine = _probe(ctx)
    try:
        choice: DeviceChoice | None = _choose_device(ctx, machine)
        note = ""
    except CLIError as exc:
        choice, note = None, str(exc)
    if ctx.args.json:
        ctx.print(render.dumps({"machine": machine.as_dict(), "device": None if choice is None else {
            "ref": choice.ref, "label": choice.label, "how": choice.how, "count": choice.count,
            "memory_gb": choice.memory_gb}, "note": note}))
        return 0
    host = machine.host
    pairs: list[tuple[str, Any]] = [
        ("CPU", f"{host.cpu} ({host.cores or '?'} threads)"),
        ("CPU flags", " ".join(host.flags)),
        ("Memory", f"{host.memory_gb:g} GB" if host.memory_gb else None),
    ]
    if host.measured_bandwidth_gbs:
        pairs.append(("Measured", f"{host.measured_bandwidth_gbs:g} GB/s copy bandwidth, "
                                  f"{host.measured_fp32_tflops:g} FP32 TFLOPS"))
    for accelerator in machine.accelerators:
        memory = f", {accelerator.memory_gb:g} GB" if accelerator.memory_gb else ""
        pairs.append(("Accelerator", f"{accelerator.count} x {accelerator.name}{memory} ({accelerator.probe})"))
    if not machine.accelerators:
        pairs.append(("Accelerator", "none found (nvidia-smi, rocm-smi, sysctl)"))
    pairs.append(("Device", f"{choice.label} — {choice.how}" if choice else f"catalog not read: {note}"))
    ctx.print(render.key_values(pairs))
    return 0


# --- Estimates ---------------------------------------------------------------------------------

def _workload(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name) for name in WORKLOAD_OPTIONS if getattr(args, name, None) is not None}


def _sort_key(result: dict[str, Any]) -> tuple:
    return (VERDICT_ORDER.get(result["verdict"], 9), GRADE_ORDER.get(result["grade"], 9),
            -(result["tokens_per_s"] or 0.0))


def cmd_fit(ctx: Context) -> int:
    choice = _device(ctx)
    workload = {**_workload(ctx.args), **choice.workload()}
    quantizations = [q.strip() for q in ctx.args.quantization.split(",") if q.strip()]
    if isinstance(choice.ref, str):
        results = ctx.backend.device_table(choice.ref, quantizations, workload)
    else:
        scenarios = [{"model": model, "quantization": quant, "device": choice.ref, **workload}
                     for model in ctx.backend.models() for quant in quantizations]
        results = ctx.backend.estimate(scenarios)
    shown = results if ctx.args.all else [r for r in results if r["verdict"] in ("fits", "offload")]
    shown = sorted(shown, key=_sort_key)[: ctx.args.limit or None]
    if ctx.args.json:
        ctx.print(render.dumps({"device": {"ref": choice.ref, "how": choice.how}, "count": len(shown),
                                "results": shown}))
        return 0
    ctx.print(f"{choice.label} — {choice.how}")
    if not shown:
        ctx.print("Nothing in the catalog runs on it at " + ", ".join(quantizations) + " (--all lists every verdict).")
        return 0
    rows = [[r["model"]["name"], r["quantization"]["name"], r["verdict"], r["grade"], render.number(r["tokens_per_s"]),
             render.gigabytes(r["memory"]["total_bytes"]), render.gigabytes(r["memory"]["headroom_bytes"])]
            for r in shown]
    colour = render.use_colour(ctx.out)
    ctx.print(render.table(("Model", "Quantization", "Verdict", "Grade", "tok/s", "Memory GB", "Headroom GB"), rows,
                           colour=colour, grade_column=3, right=(4, 5, 6)))
    return 0


def _model_ref(value: str) -> tuple[str | dict[str, Any], dict[str, Any] | None]:
    """A catalog slug or name, or a config.json / .gguf path read into an inline model (+ its quantization)."""
    path = Path(value)
    if not path.is_file():
        return value, None
    if path.suffix.lower() == ".gguf":
        from models_catalog.importers.gguf_file import gguf_read

        summary = gguf_read(path)
        return _inline_model(summary["architecture"]), summary["quantization"]
    record = _read_config(path, name=None)
    return _inline_model(record), None


def _inline_model(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in _INLINE_MODEL_EXCLUDE and value is not None}


def cmd_estimate(ctx: Context) -> int:
    model, file_quantization = _model_ref(ctx.args.model)
    quantization: str | dict[str, Any] | None = ctx.args.quantization or file_quantization
    if quantization is None:
        raise CLIError("give --quantization (a catalog slug such as q4-k-m), or a .gguf file whose bytes are its own")
    choice = _device(ctx)
    scenario = {"model": model, "quantization": quantization, "device": choice.ref, **_workload(ctx.args),
                **choice.workload()}
    result = ctx.backend.estimate([scenario])[0]
    if ctx.args.json:
        ctx.print(render.dumps(result))
        return 0
    memory, speed = result["memory"], result["speed"]
    colour = render.use_colour(ctx.out)
    ctx.print(render.key_values([
        ("Model", result["model"]["name"]), ("Quantization", result["quantization"]["name"]),
        ("Device", f"{result['device']['name']} ({choice.how})"), ("Runtime", result["runtime"]),
        ("Verdict", result["verdict"]), ("Grade", render.grade(result["grade"], colour)),
        (f"{result['mode'].capitalize()} tok/s", render.number(result["tokens_per_s"])),
        ("Bound", result["bound"]), ("Error band", None if result["error_band"] is None else f"±{result['error_band']:.0%}"),
        ("Time to first token", None if result["ttft_s"] is None else f"{result['ttft_s']:.2f} s"),
        ("Weights GB", render.gigabytes(memory["weights_bytes"])),
        ("KV cache GB", render.gigabytes(memory["kv_cache_bytes"])),
        ("Total GB", render.gigabytes(memory["total_bytes"])), ("Usable GB", render.gigabytes(memory["usable_bytes"])),
        ("Max batch", speed["max_batch"]),
    ]))
    return 0


# --- Imports -----------------------------------------------------------------------------------

def _read_config(path: Path, name: str | None) -> dict[str, Any]:
    from models_catalog.importers.hf_config import architecture_from_config, config_from_text

    config = config_from_text(path.read_bytes())
    if name is None and not config.get("_name_or_path") and path.name == "config.json" and path.resolve().parent.name:
        # A checkpoint folder is named for its model (…/Llama-3.1-8B/config.json).
        name = path.resolve().parent.name
    return architecture_from_config(config, name=name)


def _print_record(ctx: Context, record: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
    if ctx.args.json:
        ctx.print(render.dumps({**record, **(extra or {})} if extra else record))
        return
    pairs = [(key, value) for key, value in record.items() if value not in (None, "", [], False)]
    ctx.print(render.key_values(pairs))


def _save(ctx: Context, record: dict[str, Any]) -> None:
    saved = ctx.backend.save_model(record)
    message = f"saved {saved['name']} as '{saved['slug']}' in the {ctx.backend.label}"
    (sys.stderr if ctx.args.json else ctx.out).write(message + "\n")


def cmd_import_config(ctx: Context) -> int:
    record = _read_config(Path(ctx.args.path), ctx.args.name)
    _print_record(ctx, record)
    if not ctx.args.dry_run:
        _save(ctx, record)
    return 0


def cmd_import_gguf(ctx: Context) -> int:
    from models_catalog.importers.gguf_file import gguf_read

    summary = gguf_read(ctx.args.path)
    record = summary["architecture"]
    if ctx.args.name:
        from models_catalog.sources import slugify

        record.update(name=ctx.args.name, slug=slugify(ctx.args.name))
    if ctx.args.json:
        ctx.print(render.dumps(summary))
    else:
        _print_record(ctx, record)
        ctx.print()
        rows = [[group, f"{g['params']:,}", f"{g['bytes']:,}", render.number(g["bits_per_weight"], 3),
                 ", ".join(f"{t} x{n}" for t, n in g["types"].items())] for group, g in summary["groups"].items()]
        ctx.print(render.table(("Group", "Weights", "Bytes", "Bits/weight", "Tensor types"), rows, colour=False,
                               right=(1, 2, 3)))
        ctx.print(f"\n{summary['tensor_bytes']:,} bytes of tensors in a {summary['file_bytes']:,}-byte file: "
                  f"{summary['quantization']['bits_per_weight']:.3f} bits per weight")
    if not ctx.args.dry_run:
        _save(ctx, record)
    return 0


# --- Entry point -------------------------------------------------------------------------------

def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hwfit", description="Does a model fit on this machine, and how fast?")
    parser.add_argument("--server", metavar="URL", help="a hwfit server to ask (default: the local catalog)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def workload(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--context", dest="context_tokens", type=int, metavar="N", help="tokens of context")
        sub.add_argument("--prompt", dest="prompt_tokens", type=int, metavar="N", help="prompt tokens")
        sub.add_argument("--gen", dest="gen_tokens", type=int, metavar="N", help="tokens generated")
        sub.add_argument("--batch", type=int, metavar="N", help="concurrent sequences")
        sub.add_argument("--mode", choices=("decode", "prefill", "diffusion"), help="which speed to report")
        sub.add_argument("--device", metavar="SLUG", help="a catalog device instead of this machine")
        sub.add_argument("--no-measure", action="store_true", help="do not measure this CPU's memory bandwidth")
        sub.add_argument("--json", action="store_true", help="print JSON")

    detect = commands.add_parser("detect", help="this machine's accelerators, CPU and memory")
    detect.add_argument("--no-measure", action="store_true", help="do not measure this CPU's memory bandwidth")
    detect.add_argument("--json", action="store_true", help="print JSON")
    detect.set_defaults(handler=cmd_detect)

    fit = commands.add_parser("fit", help="what runs on this machine (or --device), best first")
    workload(fit)
    fit.add_argument("--quantization", default=",".join(DEFAULT_QUANTIZATIONS), metavar="SLUGS",
                     help=f"comma-separated quantization slugs (default {','.join(DEFAULT_QUANTIZATIONS)})")
    fit.add_argument("--all", action="store_true", help="list every verdict, not only what runs")
    fit.add_argument("--limit", type=int, default=0, metavar="N", help="show the best N")
    fit.set_defaults(handler=cmd_fit)

    estimate = commands.add_parser("estimate", help="one model at one quantization on this machine (or --device)")
    estimate.add_argument("model", help="catalog slug or name, or a config.json / .gguf path")
    estimate.add_argument("--quantization", metavar="SLUG", help="catalog quantization (default for a .gguf: its own bytes)")
    workload(estimate)
    estimate.set_defaults(handler=cmd_estimate)

    for name, help_text, handler in (("import-config", "a Hugging Face config.json", cmd_import_config),
                                     ("import-gguf", "a GGUF file's header", cmd_import_gguf)):
        sub = commands.add_parser(name, help=f"read {help_text} into a catalog model")
        sub.add_argument("path", help="the file")
        sub.add_argument("--name", help="the catalog name (default: from the file)")
        sub.add_argument("--dry-run", action="store_true", help="print what was read, save nothing")
        sub.add_argument("--json", action="store_true", help="print JSON")
        sub.set_defaults(handler=handler)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, run: probes.Runner | None = None,
         read: probes.FileReader | None = None) -> int:
    """Run one command; returns the exit status (0 ok, 2 bad input or an unreachable catalog)."""
    from models_catalog.importers.gguf_file import GGUFImportError
    from models_catalog.importers.hf_config import ConfigImportError

    args = _parser().parse_args(argv)
    ctx = Context(args, out or sys.stdout, run or probes.run_command, read or probes.read_text)
    try:
        return args.handler(ctx)
    except (CLIError, ConfigImportError, GGUFImportError) as exc:
        sys.stderr.write(f"hwfit {args.command}: error: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"hwfit {args.command}: error: {exc.filename or ''}: {exc.strerror or exc}\n")
        return 2
