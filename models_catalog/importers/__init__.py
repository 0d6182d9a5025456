"""Bring your own model: read a Hugging Face config.json or a GGUF file into catalog-shaped records.

Pure Python (numpy and the `gguf` package), no Django: the page, the admin, the API and the
`hwfit` command line all call these and decide themselves whether to save anything.
"""

from models_catalog.importers.hf_config import ConfigImportError, architecture_from_config, config_from_text

__all__ = ["ConfigImportError", "architecture_from_config", "config_from_text"]
