"""Fixtures for the reference-engine tests; the engine needs torch (requirements-engine.txt)."""

from __future__ import annotations

import pytest

from hwfit.testing import import_or_skip

torch = import_or_skip("torch")


@pytest.fixture(autouse=True)
def _one_thread():
    # Tiny tensors: thread start-up costs more than it saves, and CI boxes have 2 cores.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
