"""Moved to the Django-free `catalog_sources` package; this name stays for code not yet updated."""

from catalog_sources import *  # noqa: F401,F403
from catalog_sources import __all__  # noqa: F401
