"""Runtimes, cloud offers and API prices, each linked to the catalog device or model it names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from catalog_sources.reading import link_rules, read


def load_runtimes(data_dir: Path | str) -> pd.DataFrame:
    """runtimes.csv: the software a measured run or a calibration names, with its homepage."""
    records = [{column: row[column].strip() for column in ("slug", "name", "homepage", "notes", "source")}
               for row in read(data_dir, "runtimes.csv")]
    return pd.DataFrame.from_records(records)


def _match_device(text: str, rules: list[tuple[str, str]], devices: set[str]) -> str | None:
    """The catalog device an offer's free-text device names, when it names exactly one.

    The first rule (offer_device_links.csv, in order) whose pattern matches decides; an empty name
    means the label names several parts, or one the catalog lacks.
    """
    key = text.upper()
    for pattern, name in rules:
        if re.search(pattern, key):
            return name if name in devices else None
    return None


def load_cloud_offers(data_dir: Path | str, device_names: Iterable[str] = ()) -> pd.DataFrame:
    """cloud_offers.csv; `device_name` is the catalog device the offer names, when one matches."""
    device_names = set(device_names)
    rules = [(pattern, name) for _, pattern, name in link_rules(data_dir, "offer_device_links.csv")]
    records = []
    for row in read(data_dir, "cloud_offers.csv"):
        records.append({
            "provider": row["provider"].strip(),
            "device_label": row["device"].strip(),
            "device_name": _match_device(row["device"].strip(), rules, device_names),
            "gpu_count": row.int("gpu_count") or 1,
            "usd_per_hour": row.num("usd_per_hour"),
            "tier": row["tier"].strip(),
            "region_or_note": row["region_or_note"].strip(),
            "as_of": row["as_of"].strip(),
            "source": row["source"].strip(),
        })
    return pd.DataFrame.from_records(records)


# What an API-price link rule says of the model's weights: `open` (a catalog model, or an open model
# the catalog cannot describe, named in the rule's source) or `closed` (API-only: nothing to link).
WEIGHTS = ("open", "closed")


def _api_link_rules(data_dir: Path | str, model_names: set[str]) -> list[tuple[str, str, str]]:
    rules = []
    for row, pattern, name in link_rules(data_dir, "api_model_links.csv"):
        weights = row["weights"].strip()
        if weights not in WEIGHTS:
            raise row.error("weights", f"{weights!r} is not one of {', '.join(WEIGHTS)}")
        if weights == "closed" and name:
            raise row.error("name", "a closed-weight rule names no catalog model (there is no architecture to link)")
        if name and model_names and name not in model_names:
            raise row.error("name", f"{name!r} is not a model of models.csv")
        rules.append((pattern, name, weights))
    return rules


def load_api_prices(data_dir: Path | str, model_names: Iterable[str] = ()) -> pd.DataFrame:
    """api_prices.csv; `model_name` is the catalog model the price is for, when one matches.

    `closed_weights` marks a price for a model whose weights are not published (an API-only model):
    it has no architecture, so no catalog model, by rule (api_model_links.csv) rather than by omission.
    """
    names = set(model_names)
    rules = _api_link_rules(data_dir, names)
    records = []
    for row in read(data_dir, "api_prices.csv"):
        label = row["model"].strip()
        rule = next((rule for rule in rules if re.search(rule[0], label, re.IGNORECASE)), None)
        model = rule[1] if rule else None
        records.append({
            "provider": row["provider"].strip(),
            "model_label": label,
            "model_name": model if model and model in names else None,
            "closed_weights": bool(rule and rule[2] == "closed"),
            "tier": row["tier"].strip(),
            "usd_per_1m_input": row.num("usd_per_1m_input"),
            "usd_per_1m_output": row.num("usd_per_1m_output"),
            "as_of": row["as_of"].strip(),
            "source": row["source"].strip(),
        })
    return pd.DataFrame.from_records(records)
