"""models.csv, with the attention layouts and extra facts of model_layouts.csv / model_extra_facts.csv."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from catalog_sources.reading import Row, read, require_columns, slugify
from estimator.core.schema import MODEL_COLUMNS

# Full-attention masked-diffusion models (docs/diffusion.md, the LLaDA/Dream family); every other
# diffusion row in the data is block-causal (SDAR, LLaDA2, DiffusionGemma).
_FULL_ATTENTION_DIFFUSION = re.compile(r"^(LLaDA(?!2)|Dream|d3LLM)", re.IGNORECASE)


def _positive_int(row: Row) -> int:
    value = row.int("value")
    if value is None or value <= 0:
        raise row.error("value", f"{row['value'].strip()!r} is not a positive whole number")
    return value


def _positive_float(row: Row) -> float:
    value = row.num("value")
    if value is None or value <= 0:
        raise row.error("value", f"{row['value'].strip()!r} is not a positive number")
    return value


def _true_or_false(row: Row) -> bool:
    value = row.flag("value")
    if value is None:
        raise row.error("value", "give true or false")
    return value


# The fields each table may set, with the reader of their value: the per-layer KV shape a
# sliding/global or MLA layout needs, which models.csv's plain columns cannot hold.
LAYOUT_FIELDS: dict[str, Callable[[Row], object]] = {
    "n_global_layers": _positive_int, "global_kv_heads": _positive_int, "global_head_dim": _positive_int,
    "global_kv_shared": _true_or_false, "kv_lora_rank": _positive_int, "qk_rope_head_dim": _positive_int,
    "n_dense_layers": _positive_int,
    # A published active count under another convention (without the input embedding, a lookup),
    # restated under the catalog's: every parameter a token reads, both embeddings included.
    "active_params_b": _positive_float,
}
EXTRA_FIELDS: dict[str, Callable[[Row], object]] = {
    "vision_params_b": _positive_float, "self_conditioning": _true_or_false, "tokens_per_forward": _positive_float,
}


def _facts(data_dir: Path | str, file: str, fields: dict[str, Callable[[Row], object]],
           names: set[str]) -> dict[str, dict[str, tuple[object, str]]]:
    """{model name: {field: (value, source)}} of a fact table, each row checked against models.csv."""
    facts: dict[str, dict[str, tuple[object, str]]] = {}
    for row in read(data_dir, file):
        name, field = row["name"].strip(), row["field"].strip()
        if name not in names:
            raise row.error("name", f"{name!r} is not a model of models.csv")
        if field not in fields:
            raise row.error("field", f"{field!r} is not one of {', '.join(fields)}")
        if not row["source"].strip() or row["source"].startswith(file):
            raise row.error("source", "a fact needs its source")
        facts.setdefault(name, {})[field] = (fields[field](row), row["source"].strip())
    return facts


def _families(data_dir: Path | str) -> list[tuple[str, str]]:
    return [(row["prefix"].strip(), row["family"].strip()) for row in read(data_dir, "model_families.csv")]


def model_family(name: str, families: list[tuple[str, str]]) -> str:
    """The family of the first prefix (model_families.csv, in order) the name's slug starts with."""
    key = slugify(name)
    for prefix, family in families:
        if key.startswith(prefix):
            return family
    return name.split()[0]


def load_models(data_dir: Path | str) -> pd.DataFrame:
    """models.csv as schema columns plus name/slug/family/org/hf_repo/license/source/notes."""
    families = _families(data_dir)
    rows = read(data_dir, "models.csv")
    names = {row["name"].strip() for row in rows}
    layouts = _facts(data_dir, "model_layouts.csv", LAYOUT_FIELDS, names)
    extras = _facts(data_dir, "model_extra_facts.csv", EXTRA_FIELDS, names)
    records = []
    for row in rows:
        name = row["name"].strip()
        derived: list[str] = []
        diffusion = row["generation"].strip() == "diffusion"
        record: dict = {
            "name": name,
            "slug": slugify(name),
            "family": model_family(name, families),
            "org": row["hf_repo"].split("/")[0] if "/" in row["hf_repo"] else "",
            "hf_repo": row["hf_repo"].strip(),
            "license": row["license"].strip(),
            "generation_mode": "block_diffusion" if diffusion else "autoregressive",
            "diffusion_attention": "",
            "total_params_b": row.num("total_params_b"),
            "active_params_b": row.num("active_params_b"),
            "embedding_params_b": None,
            "tied_embeddings": row.flag("tied_embeddings"),
            "vision_params_b": None,
            "n_layers": row.int("layers"),
            "hidden_size": row.int("hidden_size"),
            "n_heads": row.int("n_heads"),
            "n_kv_heads": row.int("n_kv_heads"),
            "head_dim": row.int("head_dim"),
            "intermediate_size": row.int("intermediate_size"),
            "moe_intermediate_size": row.int("moe_intermediate_size"),
            "n_experts": row.int("n_experts"),
            "n_experts_active": row.int("n_experts_active"),
            "n_shared_experts": row.int("n_shared_experts"),
            "n_dense_layers": None,
            "vocab_size": row.int("vocab_size"),
            "max_context": row.int("max_context"),
            "sliding_window": row.int("sliding_window"),
            "n_global_layers": None,
            "global_kv_heads": None,
            "global_head_dim": None,
            "global_kv_shared": False,
            "kv_lora_rank": None,
            "qk_rope_head_dim": None,
            "block_size": row.int("block_size"),
            "tokens_per_forward": None,
            "self_conditioning": False,
            "attention_pattern": row["attention_pattern"].strip(),
            "source": row["source"].strip(),
            "notes": row["notes"].strip(),
        }
        if record["tied_embeddings"] is not None:
            if not row["tied_embeddings_source"].strip():
                raise row.error("tied_embeddings_source", "a stated tied_embeddings needs its source (the config.json read)")
            record["source"] += f"; tied_embeddings: {row['tied_embeddings_source'].strip()}"
        if diffusion:
            # Rule: LLaDA (v1, MoE), Dream and d3LLM are full-attention masked diffusion.
            record["diffusion_attention"] = "full" if _FULL_ATTENTION_DIFFUSION.match(name) else "block_causal"
            derived.append("diffusion_attention")
        if record["n_experts"] and record["active_params_b"] is None:
            record["active_params_b"] = record["total_params_b"]
        # A layout fact is read from the config's layer list or attention fields rather than a plain
        # column, so it is listed as derived; an extra fact is stated as such by its source.
        for field, (value, source) in layouts.get(name, {}).items():
            record[field] = value
            derived.append(field)
            record["source"] += f"; {field}: {source}"
        for field, (value, source) in extras.get(name, {}).items():
            record[field] = value
            record["source"] += f"; {field}: {source}"
        record["derived_fields"] = derived
        records.append(record)
    return require_columns(pd.DataFrame.from_records(records), MODEL_COLUMNS, "models.csv")

