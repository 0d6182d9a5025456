"""hwfit.api_json: the API's JSON is DRF's JSON, encoded faster."""

import datetime
import decimal
import json

import numpy as np
from django.utils.translation import gettext_lazy
from rest_framework import renderers

from hwfit.api_json import JSONRenderer

DRF = renderers.JSONRenderer()


def test_it_writes_what_drf_writes_for_the_apis_data():
    data = {"count": 2, "results": [{"name": "RTX 4090 — “24 GB”", "tokens_per_s": 153.28, "tiny": 1e-05,
                                     "huge": 1e16, "none": None, "fits": True, "derived": ["head_dim"]}],
            3: "an index key", "when": datetime.datetime(2026, 11, 30, 3, 0, tzinfo=datetime.timezone.utc),
            "price": decimal.Decimal("1.25"), "lazy": gettext_lazy("This field is required."),
            "numpy": np.float64(2.5), "array": np.arange(3), "line": "a\u2028b\u2029c"}
    ours = JSONRenderer().render(data)
    assert json.loads(ours) == json.loads(DRF.render(data))
    assert b"\\u2028" in ours and b"\\u2029" in ours and "\u2028".encode() not in ours
    assert b'"when":"2026-11-30T03:00:00Z"' in ours  # DRF's date format, not orjson's
    assert b" " not in JSONRenderer().render({"a": [1, 2]})  # compact


def test_it_leaves_indented_json_and_huge_integers_to_drf():
    assert JSONRenderer().render({"a": 1}, "application/json; indent=2") == DRF.render({"a": 1}, "application/json; indent=2")
    assert JSONRenderer().render({"a": 2**70}) == DRF.render({"a": 2**70})
    assert JSONRenderer().render(None) == b""


def test_the_api_answers_with_it(client, db):
    response = client.get("/api/v1/devices/", {"page_size": 1})
    assert response.status_code == 200
    assert response.renderer_context["response"].accepted_renderer.__class__ is JSONRenderer


def test_a_canonical_key_does_not_depend_on_key_order_and_tells_values_apart():
    from hwfit.api_json import canonical_json

    assert canonical_json({"b": 1, "a": {"d": 2.5, "c": None}}) == canonical_json({"a": {"c": None, "d": 2.5}, "b": 1})
    assert canonical_json({"a": 1}) != canonical_json({"a": 1.5}) != canonical_json({"a": "1.5"})
    assert canonical_json([decimal.Decimal("1.25")]) == b'["1.25"]'  # not JSON data: its str()


def test_a_canonical_key_of_an_integer_beyond_64_bits_is_written_and_distinct():
    from hwfit.api_json import canonical_json

    assert canonical_json({"a": 10**30}) != canonical_json({"a": str(10**30)})
    assert canonical_json({"b": 10**30, "a": 1}) == canonical_json({"a": 1, "b": 10**30})
