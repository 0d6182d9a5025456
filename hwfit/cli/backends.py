"""Where the command line gets its answers: the local catalog (Django, the API's own services) or a server.

Both backends take and give the REST API's shapes: scenarios as the estimate endpoint reads them,
results as it returns them. `LocalBackend` validates with the API's serializers and calls
`estimator.services`, so an offline answer is the server's answer; `ServerBackend` speaks HTTP
with urllib. Either raises CLIError with a message fit for a terminal.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

MAX_BATCH = 1000


class CLIError(Exception):
    """A message for the terminal; the command exits non-zero without a traceback."""


def _messages(errors: Any, prefix: str = "") -> list[str]:
    """DRF-style errors ({field: [reasons]}, nested) as 'field: reason' lines."""
    if isinstance(errors, dict):
        lines = []
        for key, value in errors.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            lines += _messages(value, "" if key in ("non_field_errors", "detail") and not prefix else name)
        return lines
    if isinstance(errors, list):
        return [line for item in errors for line in _messages(item, prefix)]
    return [f"{prefix}: {errors}" if prefix else str(errors)]


class LocalBackend:
    """The local catalog through Django (settings from the environment, as `manage.py` reads them)."""

    label = "local catalog"

    def __init__(self) -> None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hwfit.settings")
        import django
        from django.apps import apps

        # Once per process: setting up again would reconfigure logging under a running Django.
        if not apps.ready:
            django.setup()

    def _guard(self, call):
        from django.db import DatabaseError

        try:
            return call()
        except DatabaseError as exc:
            raise CLIError(f"cannot read the local catalog ({str(exc).strip().splitlines()[0]}); run `make migrate` "
                           f"or give --server URL") from None

    def devices(self) -> list[dict[str, Any]]:
        from devices.models import Device
        from estimator import selectors

        # The estimator's columns and the sizes a configurable part is sold in, as the API lists them.
        return self._guard(lambda: list(Device.objects.values(*selectors.DEVICE_FIELDS, "memory_options_gb")))

    def models(self) -> list[str]:
        from estimator import selectors

        return self._guard(lambda: selectors.models_frame()["slug"].tolist())

    def estimate(self, scenarios: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from estimator import services
        from estimator.api.serializers import ScenarioSerializer

        validated = []
        for index, scenario in enumerate(scenarios):
            serializer = ScenarioSerializer(data=scenario)
            if not serializer.is_valid():
                where = f"scenario {index + 1}: " if len(scenarios) > 1 else ""
                raise CLIError(where + "; ".join(_messages(serializer.errors)))
            validated.append(serializer.validated_data)
        try:
            return self._guard(lambda: services.estimate_scenarios(scenarios=validated))
        except services.ScenarioInputError as exc:
            raise CLIError("; ".join(_messages({f"scenario {i + 1}": e for i, e in exc.errors.items()}
                                               if len(scenarios) > 1 else exc.errors[0]))) from None

    def device_table(self, slug: str, quantizations: list[str] | None, workload: dict[str, Any]) -> list[dict[str, Any]]:
        from django.core.exceptions import ValidationError

        from devices.models import Device
        from estimator import services
        from estimator.api.serializers import CompatibilityQuerySerializer

        # The query a GET /devices/<slug>/compatibility/ would send, validated the same way.
        query = CompatibilityQuerySerializer(data={**workload, **({"quantization": ",".join(quantizations)}
                                                                  if quantizations else {})})
        if not query.is_valid():
            raise CLIError("; ".join(_messages(query.errors)))
        if not self._guard(lambda: Device.objects.filter(slug=slug).exists()):
            raise CLIError(f"device: Unknown device '{slug}': give a catalog device slug.")
        asked = dict(query.validated_data)
        try:
            table = self._guard(lambda: services.compatibility(
                device_slug=slug, quantizations=asked.pop("quantization", None), runtime=asked.pop("runtime", None),
                mode=asked.pop("mode", None), workload=asked))
        except ValidationError as exc:
            raise CLIError("; ".join(_messages(exc.message_dict if hasattr(exc, "error_dict") else exc.messages))) from None
        return table[:]

    def save_model(self, record: dict[str, Any]) -> dict[str, Any]:
        from django.core.exceptions import ValidationError

        from models_catalog.imports import architecture_save

        try:
            model = self._guard(lambda: architecture_save(record=record))
        except ValidationError as exc:
            raise CLIError("not saved: " + "; ".join(_messages(exc.message_dict))) from None
        return {"slug": model.slug, "name": model.name}


class ServerBackend:
    """A hwfit server's REST API (`--server URL`); HWFIT_TOKEN authenticates writes."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0):
        parsed = urllib.parse.urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise CLIError(f"--server must be an http(s) URL such as http://127.0.0.1:8000, not {url!r}")
        self.base = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.label = self.base

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        url = path if path.startswith("http") else f"{self.base}{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method, headers={"Accept": "application/json"})
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (URL checked above)
                return json.loads(response.read().decode() or "null")
        except urllib.error.HTTPError as exc:
            try:
                errors = json.loads(exc.read().decode() or "{}")
            except ValueError:
                errors = {}
            reasons = _messages(errors.get("errors", errors) if isinstance(errors, dict) else errors)
            raise CLIError(f"{self.base} answered {exc.code}: " + ("; ".join(reasons) or exc.reason)) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CLIError(f"cannot reach {self.base}: {reason}") from None
        except ValueError:
            raise CLIError(f"{self.base} did not answer JSON: is it a hwfit server?") from None

    def _pages(self, path: str) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        url: str | None = path
        while url:
            page = self._request("GET", url)
            results += page["results"]
            url = page.get("next")
        return results

    def devices(self) -> list[dict[str, Any]]:
        return self._pages("/api/v1/devices/?page_size=500")

    def models(self) -> list[str]:
        return [model["slug"] for model in self._pages("/api/v1/models/?page_size=500")]

    def estimate(self, scenarios: list[dict[str, Any]]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for start in range(0, len(scenarios), MAX_BATCH):
            answer = self._request("POST", "/api/v1/estimate/", {"scenarios": scenarios[start:start + MAX_BATCH]})
            results += answer["results"]
        return results

    def device_table(self, slug: str, quantizations: list[str] | None, workload: dict[str, Any]) -> list[dict[str, Any]]:
        query = {key: value for key, value in workload.items() if value is not None}
        if quantizations:
            query["quantization"] = ",".join(quantizations)
        query["page_size"] = 500
        quoted = urllib.parse.quote(slug, safe="")
        return self._pages(f"/api/v1/devices/{quoted}/compatibility/?{urllib.parse.urlencode(query)}")

    def save_model(self, record: dict[str, Any]) -> dict[str, Any]:
        # The catalog's own create endpoint (staff): the record already has the catalog's fields.
        saved = self._request("POST", "/api/v1/models/", record)
        return {"slug": saved["slug"], "name": saved["name"]}
