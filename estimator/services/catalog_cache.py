"""The catalog kept in process memory, and compatibility tables kept in the cache, until the catalog changes.

Loading the catalog into frames costs far more than estimating a scenario, so each process keeps
the loaded catalog and reloads it only when its version changes. The version is checked on every
request and has two parts, so that it is right across gunicorn processes whatever is down:

- the database's own fingerprint: per catalog table, the row count and the newest `updated_at`
  (calibration fits: the count, the newest id and which are accepted; measured runs: the count
  and the newest id) — one query;
- a token in the shared cache, replaced when a catalog row, a calibration fit or a measured run
  is saved or deleted (after the transaction commits), which also catches changes the fingerprint cannot
  tell apart (a fit withdrawn and another accepted between two requests).

Reading the version costs a query and a cache round trip, more than a kept answer takes to serve,
so a process reads it at most once per `HWFIT_CATALOG_CHECK_S` seconds (production: 1 s;
development and tests: 0, every request). A change this process saves is seen by its next request;
one saved by another process (a worker, a management command, SQL) within that interval.

A compatibility table is computed once per catalog version and workload, then reused from this
process's memory or, when another process computed it in full, from the shared cache (a table is
computed as its pages are read: `ResultTable`). A cache that
cannot be reached (or answers garbage) only means computing the table again: never an error.
See README.md, "Production".
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save

from estimator.services.catalog import Catalog, catalog_load
from estimator.services.resolve import ScenarioInputError
from estimator.services.tables import ResultTable
from hwfit import deferred
from hwfit.api_json import canonical_json

logger = logging.getLogger(__name__)

TOKEN_KEY = "estimator:catalog-token"
# Tables computed by this process and kept in memory (a model's table is ~3,000 rows).
MEMORY_TABLES = 64
# Single estimates kept by this process (a result object is ~3 KB).
MEMORY_ESTIMATES = 20_000
# Requests of more scenarios are computed whole: the core takes about as long for 1,000 rows as
# for one, while looking up and storing each of them would not pay (a page's sweeps, big batches).
CACHED_BATCH_MAX = 100
# Seconds a computed table stays in the shared cache (a new catalog version never reads it anyway).
SHARED_TABLE_TIMEOUT_S = 3600
# What a kept table holds (ResultTable's attributes): a table pickled by a release that kept
# another layout is never read back.
TABLE_LAYOUT = "columns-3"

# (app label, model name) of every table the estimator reads.
CATALOG_MODELS = (
    ("models_catalog", "ModelArchitecture"), ("models_catalog", "QuantizationFormat"), ("models_catalog", "Runtime"),
    ("models_catalog", "ApiPrice"), ("devices", "Device"), ("devices", "CloudOffer"),
)
# Calibration fits replace the priors in estimates, and measured runs make the accuracy ledger
# each estimate carries.
RESULT_MODELS = (("estimator", "CalibrationFit"), ("estimator", "MeasuredRun"))

_lock = threading.Lock()
_prepared: tuple[str, Catalog] | None = None
_tables: OrderedDict[str, ResultTable] = OrderedDict()
_estimates: OrderedDict[str, dict[str, Any]] = OrderedDict()
# The same estimates encoded for the API, by the same keys (see `estimates_cached`).
_encoded: dict[str, bytes] = {}
_ledgers: dict[tuple[str, ...], list[dict[str, Any]]] = {}
# What other modules keep per catalog version in this process (estimator/api/kept.py), dropped by `forget`.
forget_also: list[Callable[[], None]] = []
# (time.monotonic() when read, version): the last version this process read.
_checked: tuple[float, str] | None = None


def watched_models() -> list[type[Model]]:
    return [apps.get_model(app, name) for app, name in (*CATALOG_MODELS, *RESULT_MODELS)]


def _fingerprint_sql() -> str:
    quote = connection.ops.quote_name
    parts = []
    for model in watched_models():
        table = quote(model._meta.db_table)
        names = {field.name for field in model._meta.concrete_fields}
        pk = quote(model._meta.pk.column)
        if "updated_at" in names:
            summary = f"CAST(MAX({quote('updated_at')}) AS TEXT)"
        elif "accepted" in names:
            # Fits are never edited but `accepted`: the newest id and the sum of accepted ids.
            summary = (f"CAST(MAX({pk}) AS TEXT) || ':' || "
                       f"CAST(COALESCE(SUM(CASE WHEN {quote('accepted')} THEN {pk} ELSE 0 END), 0) AS TEXT)")
        else:
            summary = f"CAST(MAX({pk}) AS TEXT)"  # rows added or deleted, not edited (measured runs)
        parts.append(f"SELECT {len(parts)}, COUNT(*), {summary} FROM {table}")
    return " UNION ALL ".join(parts) + " ORDER BY 1"


@functools.cache
def _release() -> str:
    """What the code computes with: the shared cache outlives a deploy, its answers must not.

    The priors and constants (estimator/data) and the release (`HWFIT_RELEASE`, e.g. the commit
    a deploy runs; the package version otherwise).
    """
    import hwfit

    data = sorted((Path(__file__).resolve().parents[1] / "data").glob("*.json"))
    parts = [os.environ.get("HWFIT_RELEASE", hwfit.__version__), *(path.read_bytes() for path in data)]
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()


# Inside `version_held()`: the version once read, so that a request reads it once (and computes
# everything at that one version).
_held: ContextVar[list[str] | None] = ContextVar("catalog_version_held", default=None)


@contextmanager
def version_held() -> Iterator[None]:
    """Within the block, the catalog's version is read at most once (a GET request: it edits nothing)."""
    token = _held.set([])
    try:
        yield
    finally:
        _held.reset(token)


def catalog_version() -> str:
    """A short digest that changes whenever a row the estimator reads changes (one query, one cache get)."""
    held = _held.get()
    if held:
        return held[0]
    version = _recent_version()
    if held is not None:
        held.append(version)
    return version


def _recent_version() -> str:
    """The version read by this process less than HWFIT_CATALOG_CHECK_S ago, or read now."""
    global _checked
    checked = _checked
    started = time.monotonic()
    if checked is not None and started - checked[0] < settings.HWFIT_CATALOG_CHECK_S:
        return checked[1]
    version = _read_version()
    _checked = (started, version)
    return version


def _recheck() -> None:
    """The next request reads the version again (this process saved a change)."""
    global _checked
    _checked = None


def _read_version() -> str:
    with connection.cursor() as cursor:
        cursor.execute(_fingerprint_sql())
        rows = cursor.fetchall()
    try:
        token = cache.get(TOKEN_KEY)
    except Exception:  # noqa: BLE001 - a broken cache must not break estimates: the fingerprint still holds
        logger.exception("catalog token unreadable")
        token = None
    return hashlib.blake2b(repr((rows, token, _release())).encode(), digest_size=12).hexdigest()


def catalog_current() -> Catalog:
    """The catalog as of now: loaded once per version and kept in this process."""
    return _current()[1]


def _current() -> tuple[str, Catalog]:
    global _prepared
    version = catalog_version()
    prepared = _prepared
    if prepared is not None and prepared[0] == version:
        return prepared
    with _lock:
        if _prepared is None or _prepared[0] != version:
            _prepared = (version, catalog_load())
            _tables.clear()
            _estimates.clear()
            _encoded.clear()
            _ledgers.clear()
        return _prepared


def forget() -> None:
    """Drop what this process keeps, as a new process starts (tests)."""
    global _prepared, _checked
    with _lock:
        _prepared = None
        _checked = None
        for drop in forget_also:
            drop()
        _tables.clear()
        _estimates.clear()
        _ledgers.clear()


def compatibility_cached(key: tuple[Any, ...], compute: Callable[[Catalog], ResultTable]) -> ResultTable:
    """The table for `key` (everything the request asked) at the current catalog version.

    Looked up in this process, then in the shared cache; otherwise `compute` makes a table that is
    computed as it is read (tables.ResultTable), kept here, and stored in the shared cache once complete.
    """
    version, catalog = _current()
    digest = hashlib.blake2b(repr((version, key)).encode(), digest_size=16).hexdigest()
    table = _tables.get(digest)
    if table is not None:
        _tables.move_to_end(digest)
        return table
    table = _shared_get(digest)
    if table is None:
        table = compute(catalog)
        # Stored for the other processes once every row is computed (a CSV, a page's charts), after
        # the answer is sent; a JSON page computes only its own rows (ResultTable), kept here alone.
        table.on_complete = functools.partial(_store_complete, digest)
    table.cache_key = digest
    with _lock:
        _tables[digest] = table
        while len(_tables) > MEMORY_TABLES:
            _tables.popitem(last=False)
    return table


def estimates_cached(scenarios: list[dict[str, Any]],
                     compute: Callable[[list[dict[str, Any]], Catalog], list[dict[str, Any]]],
                     encode: Callable[[dict[str, Any]], bytes] | None = None) -> list[dict[str, Any]] | list[bytes]:
    """Result objects for validated scenarios: those seen at this catalog version from this
    process's memory or the shared cache, the rest computed together (one core call) and kept.

    With `encode` (the API's one JSON encoding of a record), each record's encoded bytes instead,
    kept with the record: encoding a batch's records costs more than finding them.
    Raises ScenarioInputError with the indices of `scenarios` (not of the part computed).
    """
    version, catalog = _current()
    if len(scenarios) > CACHED_BATCH_MAX:
        records = compute(scenarios, catalog)
        return records if encode is None else [encode(record) for record in records]
    # The site's energy price fills a scenario that gives none: it is part of what was asked.
    # (Scenarios come validated: no NaN, which canonical_json would write as it writes None.)
    keys = [hashlib.blake2b(canonical_json([version, scenario, settings.HWFIT_USD_PER_KWH]),
                            digest_size=16).hexdigest() for scenario in scenarios]
    found = {index: _estimates[key] for index, key in enumerate(keys) if key in _estimates}
    shared = _shared_get_many([key for index, key in enumerate(keys) if index not in found])
    found.update({index: shared[key] for index, key in enumerate(keys) if index not in found and key in shared})
    missing = [index for index in range(len(scenarios)) if index not in found]
    if missing:
        try:
            computed = compute([scenarios[index] for index in missing], catalog)
        except ScenarioInputError as exc:
            raise ScenarioInputError({missing[index]: errors for index, errors in exc.errors.items()},
                                     batch=exc.batch) from exc
        found.update(zip(missing, computed))
        deferred.defer(_shared_set_many, {keys[index]: found[index] for index in missing})
    with _lock:
        for index, key in enumerate(keys):
            _estimates[key] = found[index]
            _estimates.move_to_end(key)
        while len(_estimates) > MEMORY_ESTIMATES:
            _encoded.pop(_estimates.popitem(last=False)[0], None)
    if encode is not None:
        encoded = [_encoded.get(key) for key in keys]
        for index, data in enumerate(encoded):
            if data is None:
                encoded[index] = _encoded[keys[index]] = encode(found[index])
        return encoded
    # Each caller gets its own dicts: a record kept here must not change under the next request.
    return [{name: dict(value) if isinstance(value, dict) else value for name, value in found[index].items()}
            for index in range(len(scenarios))]


def accuracy_rows(device_slugs: list[str]) -> list[dict[str, Any]]:
    """The accuracy ledger's rows of these devices, computed once per catalog version in this process.

    The ledger replays every measured run of the devices through the estimator: far more work than
    a page of a table, and the same until a run, a fit or the catalog changes (all in the version,
    which every estimate and table checks before it asks for these rows).
    """
    from estimator.calibration.ledger import accuracy_ledger

    key = tuple(device_slugs)
    rows = _ledgers.get(key)
    if rows is None:
        rows = accuracy_ledger(device_slugs=list(device_slugs))
        with _lock:
            _ledgers[key] = rows
    return rows


def _shared_get_many(keys: list[str]) -> dict[str, dict[str, Any]]:
    if not keys:
        return {}
    try:
        stored = cache.get_many([f"estimator:estimate:{key}" for key in keys])
    except Exception:  # noqa: BLE001 - an unreachable cache: compute instead
        logger.warning("estimates not read from the cache", exc_info=True)
        return {}
    return {key[len("estimator:estimate:"):]: value for key, value in stored.items() if isinstance(value, dict)}


def _shared_set_many(records: dict[str, dict[str, Any]]) -> None:
    try:
        cache.set_many({f"estimator:estimate:{key}": record for key, record in records.items()},
                       SHARED_TABLE_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - not storing them only costs computing them again elsewhere
        logger.warning("estimates not stored in the cache", exc_info=True)


def _store_complete(digest: str, table: ResultTable) -> None:
    deferred.defer(_shared_set, digest, table)


def _shared_get(digest: str) -> ResultTable | None:
    try:
        stored = cache.get(f"estimator:compatibility:{TABLE_LAYOUT}:{digest}")
        return stored if isinstance(stored, ResultTable) else None
    except Exception:  # noqa: BLE001 - an unreachable cache or a stale pickle: compute instead
        logger.warning("compatibility table %s not read from the cache", digest, exc_info=True)
        return None


def _shared_set(digest: str, table: ResultTable) -> None:
    try:
        # The cache pickles the table itself (once: a table is ~1-2 MB of arrays).
        cache.set(f"estimator:compatibility:{TABLE_LAYOUT}:{digest}", table, SHARED_TABLE_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - not storing it only costs computing it again elsewhere
        logger.warning("compatibility table %s not stored in the cache", digest, exc_info=True)


def catalog_changed(**_: Any) -> None:
    """Signal receiver: a watched row was saved or deleted; every process reloads once it commits."""
    _recheck()
    transaction.on_commit(_new_token)


def _new_token() -> None:
    _recheck()
    try:
        cache.set(TOKEN_KEY, uuid.uuid4().hex, None)
    except Exception:  # noqa: BLE001 - the database fingerprint still tells the change
        logger.warning("catalog token not replaced", exc_info=True)


def connect_signals() -> None:
    for model in watched_models():
        post_save.connect(catalog_changed, sender=model, dispatch_uid=f"catalog-changed-save-{model._meta.label}")
        post_delete.connect(catalog_changed, sender=model, dispatch_uid=f"catalog-changed-delete-{model._meta.label}")
