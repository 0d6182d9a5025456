from django.shortcuts import get_object_or_404, render

from hwfit.catalog_pages import field_rows

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
    model = get_object_or_404(ModelArchitecture, slug=slug)
    return render(request, "models_catalog/model_detail.html", {"model": model, "groups": field_rows(model, MODEL_FIELDS)})
