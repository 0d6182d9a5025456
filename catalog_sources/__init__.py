"""The sourced CSVs (fixtures/sources) read into catalog records: pure Python + pandas, no Django.

The catalog import command upserts these records; the estimator's accuracy report, its priors fit
and the benchmark use the same frames without a database.

Every record keeps its `source`. An empty cell stays missing (None/NaN), never 0. Where a field is
derived by a documented rule (e.g. global-attention layers read from a config's layer list), the
field name is listed in the record's `derived_fields`, and the rule is written next to the code
that applies it. A cell that cannot be read as stated is a `SourceError` naming file, row and column.
"""

from catalog_sources.architectures import EXTRA_FIELDS, LAYOUT_FIELDS, load_models, model_family
from catalog_sources.devices import PEAK_BASES, load_devices
from catalog_sources.prices import WEIGHTS, load_api_prices, load_cloud_offers, load_runtimes
from catalog_sources.quants import load_quants
from catalog_sources.reading import SCHEMAS, Row, SourceError, slugify

__all__ = [
    "EXTRA_FIELDS", "LAYOUT_FIELDS", "PEAK_BASES", "SCHEMAS", "WEIGHTS", "Row", "SourceError", "load_api_prices",
    "load_cloud_offers", "load_devices", "load_models", "load_quants", "load_runtimes", "model_family", "slugify",
]
