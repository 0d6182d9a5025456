from django.shortcuts import get_object_or_404, render

from devices.models import DeviceKind
from hwfit.catalog_pages import field_rows, public_source
from hwfit.pages import charts
from hwfit.pages.controls import FormField, controls_from_query, form_fields
from hwfit.pages.selectors import model_page

from .models import ModelArchitecture

MODEL_FIELDS = (
    ("Identity", (("family", ""), ("org", ""), ("hf_repo", ""), ("license", ""), ("generation_mode", ""),
                  ("diffusion_attention", ""))),
    ("Parameters", (("total_params_b", "B"), ("active_params_b", "B"), ("embedding_params_b", "B"),
                    ("tied_embeddings", ""), ("vision_params_b", "B"))),
    ("Shape", (("n_layers", ""), ("hidden_size", ""), ("n_heads", ""), ("n_kv_heads", ""), ("head_dim", ""),
               ("intermediate_size", ""), ("vocab_size", ""), ("max_context", "tokens"))),
    ("Mixture of experts", (("n_experts", ""), ("n_experts_active", ""), ("n_shared_experts", ""),
                            ("moe_intermediate_size", ""), ("n_dense_layers", ""))),
    ("Attention", (("attention_pattern", ""), ("sliding_window", "tokens"), ("n_global_layers", ""),
                   ("global_kv_heads", ""), ("global_head_dim", ""), ("global_kv_shared", ""), ("kv_lora_rank", ""), ("qk_rope_head_dim", ""))),
    ("Diffusion", (("block_size", "tokens"), ("tokens_per_forward", "tokens"), ("self_conditioning", ""))),
)


def model_list(request):
    models = ModelArchitecture.objects.only(
        "name", "slug", "family", "generation_mode", "total_params_b", "active_params_b", "n_experts", "max_context")
    return render(request, "models_catalog/model_list.html", {"models": models})


def model_detail(request, slug: str):
    """Where a model runs: every catalog device at the form's quantization and workload, with costs."""
    model = get_object_or_404(ModelArchitecture, slug=slug)
    controls = controls_from_query(request.GET)
    page = model_page(model=model, controls=controls)
    reference = page.reference["device"]["slug"] if page.reference else controls.device
    extra = (
        FormField(name="vendor", label="Vendor", kind="select", value=controls.vendor,
                  options=(("", "all vendors"), *((v, v) for v in page.vendors))),
        FormField(name="kind", label="Kind", kind="select", value=controls.kind,
                  options=(("", "all kinds"), *DeviceKind.choices)),
        FormField(name="device", label="Detail device", kind="select", value=reference or "",
                  options=tuple((d["slug"], d["name"]) for d in sorted(page.devices.values(), key=lambda d: d["name"])),
                  help="Quantization table, payback, commands and sweeps.",
                  error=" ".join(controls.errors.get("device", []))),
        FormField(name="daily_tokens", label="Tokens a day (payback)", value=str(controls.daily_tokens),
                  error=" ".join(controls.errors.get("daily_tokens", []))),
    )
    fields = form_fields(
        controls, request.GET, quantizations=[(q["slug"], q["name"]) for q in page.choices.quantizations],
        runtimes=[(r["slug"], r["name"]) for r in page.choices.runtimes],
        runtime_default=", ".join(page.runtimes) or "per format and device kind", extra=extra)
    if controls.quantization == "" and page.quantization:
        fields[0] = FormField(name="quantization", label="Quantization", kind="select", options=fields[0].options,
                              value=page.quantization["slug"])
    figures = {}
    if page.rows:
        figures["speed"] = charts.speed_by_device(page.rows)
    if page.quantization_rows:
        figures["memory"] = charts.memory_by_quantization([row.record for row in page.quantization_rows])
    if page.context_records:
        figures["context"] = charts.speed_by_context(page.context_records)
    if page.diffusion and page.diffusion.per_forward:
        names = {"model_name": model.name, "sibling_name": page.diffusion.sibling["name"]}
        figures["per_forward"] = charts.diffusion_sweep(page.diffusion.per_forward, axis="tokens_per_forward", **names)
        figures["batch"] = charts.diffusion_sweep(page.diffusion.batches, axis="batch", **names)
    context = {"model": model, "groups": field_rows(model, MODEL_FIELDS), "source": public_source(model.source),
               "page": page, "controls": controls, "fields": fields, "figures": figures}
    return render(request, "models_catalog/model_detail.html", context, status=400 if controls.errors else 200)
