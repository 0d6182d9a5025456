"""The pages benchmark runs (its figures come from `python -m bench.pages`, not from a timed test)."""

import pytest

from bench.pages import PAGES, run

pytestmark = pytest.mark.django_db


def test_the_pages_benchmark_renders_every_page_with_a_bounded_number_of_queries():
    results = run(repeat=1)
    assert set(results) == set(PAGES)
    for name, result in results.items():
        assert result["queries"] <= 20, name
        assert result["median_ms"] > 0
