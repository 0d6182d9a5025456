"""The tools' pages: thin views over the page services of this package."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from hwfit.tools import calculator as calc


def calculator(request: HttpRequest) -> HttpResponse:
    page = calc.calculator_page(request.GET)
    context = {"page": page}
    if page.record is not None:
        record = page.record
        count = record["workload"]["device_count"] or 1
        parts, usable_at = calc.memory_parts(record["memory"], count)
        context.update(
            verdict=calc.verdict_text(record), memory_parts=parts, usable_at=usable_at,
            memory_total=calc.per_device(record["memory"]["total_bytes"], count),
            api_query=calc.api_query(request.GET, record),
        )
    return render(request, "tools/calculator.html", context, status=400 if page.errors else 200)
