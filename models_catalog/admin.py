from django.contrib import admin

from hwfit.admin_base import PublishedPriceAdmin
from hwfit.admin_csv import CsvImportExportMixin

from .admin_imports import ModelImportAdminMixin
from .models import ApiPrice, ModelArchitecture, QuantizationFormat, Runtime


@admin.register(ModelArchitecture)
class ModelArchitectureAdmin(ModelImportAdminMixin, admin.ModelAdmin):
    list_display = ("name", "family", "generation_mode", "total_params_b", "active_params_b", "n_layers",
                    "n_experts", "n_experts_active", "max_context", "block_size")
    list_filter = ("generation_mode", "diffusion_attention", "family", "org")
    search_fields = ("name", "slug", "hf_repo", "family", "org")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "slug", "family", "org", "hf_repo", "license", "generation_mode", "diffusion_attention")}),
        ("Parameters (billions)", {"fields": ("total_params_b", "active_params_b", "embedding_params_b",
                                              "tied_embeddings", "vision_params_b")}),
        ("Shape", {"fields": ("n_layers", "hidden_size", "n_heads", "n_kv_heads", "head_dim", "intermediate_size",
                              "vocab_size", "max_context")}),
        ("Mixture of experts", {"fields": ("n_experts", "n_experts_active", "n_shared_experts",
                                           "moe_intermediate_size", "n_dense_layers")}),
        ("Attention layout", {"fields": ("attention_pattern", "sliding_window", "n_global_layers", "global_kv_heads",
                                         "global_head_dim", "global_kv_shared", "kv_lora_rank", "qk_rope_head_dim")}),
        ("Diffusion", {"fields": ("block_size", "tokens_per_forward", "self_conditioning")}),
        ("Provenance", {"fields": ("benchmark_scores", "source", "derived_fields", "notes", "created_at", "updated_at")}),
    )


@admin.register(QuantizationFormat)
class QuantizationFormatAdmin(CsvImportExportMixin, admin.ModelAdmin):
    list_display = ("name", "family", "bits_per_weight", "compute_dtype", "quality_tier", "ppl_delta")
    list_filter = ("family", "compute_dtype", "quality_tier")
    search_fields = ("name", "slug", "family")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at")


@admin.register(Runtime)
class RuntimeAdmin(CsvImportExportMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "homepage")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "updated_at")


@admin.register(ApiPrice)
class ApiPriceAdmin(CsvImportExportMixin, PublishedPriceAdmin):
    csv_key = ("provider", "model_label")
    list_display = ("provider", "model_label", "model", "usd_per_1m_input", "usd_per_1m_output", "as_of")
    list_filter = ("provider",)
    search_fields = ("provider", "model_label", "model__name")
    list_select_related = ("model",)
    autocomplete_fields = ("model",)
    published_facts = ("usd_per_1m_input", "usd_per_1m_output", "as_of", "source")
