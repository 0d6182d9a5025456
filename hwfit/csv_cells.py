"""CSV cells that a spreadsheet shows as text, never runs as a formula."""

from __future__ import annotations

from typing import Any

# Excel, LibreOffice and Google Sheets start a formula at these (a tab or CR before one is
# skipped by some of them), so a catalog name like `=HYPERLINK(...)` would run when opened.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """`value` with a leading `'` if it is text a spreadsheet would read as a formula.

    Numbers stay numbers: a negative figure is data, and only text is prefixed. The apostrophe
    is the spreadsheets' own "this is text" mark, so the cell still shows the name.
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
