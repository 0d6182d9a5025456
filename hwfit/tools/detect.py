"""Detect my device: match what a browser says about its GPU to catalog devices.

The browser reports a renderer string (WebGL's UNMASKED_RENDERER, e.g. "ANGLE (NVIDIA, NVIDIA
GeForce RTX 4090 (0x00002684) Direct3D11 vs_5_0 ps_5_0, D3D11)") and WebGPU's adapter vendor and
architecture. A device matches when every model number of its name (the words with digits:
"4090", "m2") is in the report; the best match names the most of its words and leaves the
fewest out. Words in parentheses ("(38-core GPU)") and memory sizes ("16GB") are details the
browser does not report: they neither count for nor against a device. Pure: no database.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

MAX_REPORT = 500
MEMORY_SIZE = re.compile(r"^\d+gb$")


def _tokens(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.casefold())


@dataclass(frozen=True)
class Candidate:
    slug: str
    name: str
    matched: int
    missing: int


def device_candidates(report: str, devices: Iterable[tuple[str, str]], *, limit: int = 5) -> list[Candidate]:
    """Catalog devices (slug, name) matching a browser's report, best first (at most `limit`)."""
    said = set(_tokens(report[:MAX_REPORT]))
    found = []
    for slug, name in devices:
        words = [w for w in _tokens(re.sub(r"\([^)]*\)", " ", name)) if not MEMORY_SIZE.match(w)]
        numbers = [w for w in words if any(c.isdigit() for c in w)]
        if not numbers or not all(w in said for w in numbers):
            continue
        matched = sum(w in said for w in words)
        found.append(Candidate(slug=slug, name=name, matched=matched, missing=len(words) - matched))
    found.sort(key=lambda c: (-c.matched, c.missing, len(c.name), c.name))
    return found[:limit]
