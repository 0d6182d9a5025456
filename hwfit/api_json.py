"""The API's JSON renderer: DRF's, encoding with orjson.

A compatibility table's page is ~160 KB of numbers: DRF's encoder (the standard library's) spends
~3 ms on it on the 2-core dev machine, about as long as computing its rows; orjson a tenth of that.
The bytes mean what DRF's would: compact UTF-8, object keys made strings, U+2028/U+2029 escaped
(DRF's rule, so the answer is also valid JavaScript), anything that is not plain JSON data
(dates, decimals, lazy text, numpy values) through DRF's own encoder. Pretty-printing
(`; indent=`) and the rare value orjson refuses (an integer beyond 64 bits) stay DRF's.
Numbers may be written differently (`0.00001` for `1e-05`): the same values. A NaN or infinity
that reached the renderer would be written as null (DRF raises, a 500): the API's rule anyway,
where an unknown figure is null (`estimator.core.outputs.json_values` cleans them first).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
_default = JSONEncoder().default


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        if data is None or self.get_indent(accepted_media_type or "", renderer_context or {}):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            content = orjson.dumps(data, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        return content.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")


_KEY_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def canonical_json(value: Any) -> bytes:
    """`value` as JSON with sorted keys, for cache keys: a validated request (a batch's 100 scenarios
    cost ~1 ms with json.dumps(sort_keys=True), a tenth of that here). Anything that is not JSON
    data is written as its str(). NaN would be written as null, as None is: give validated data
    (the serializers refuse NaN and infinities).

    A value orjson refuses (an integer beyond 64 bits, which a request may hold before validation
    refuses it) is written by the standard library instead, behind a byte no orjson output starts
    with, so the two spellings of a key cannot meet.
    """
    try:
        return orjson.dumps(value, default=str, option=_KEY_OPTIONS)
    except orjson.JSONEncodeError:
        return b"\x00" + json.dumps(value, sort_keys=True, default=str).encode()
