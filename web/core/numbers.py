"""Integers from addresses and forms, range-checked before they reach the database.

SQLite stores integers of at most 64 bits: a larger one (``99999999999999999999999`` as a token
id) raised ``OverflowError`` deep in a query and became a 500. Every ``<int:...>`` in a route
goes through :class:`IdConverter` (the app factory registers it as ``int``), so an id outside
1..2**63-1 is simply not found (404); a form's or query string's integer is read with
:func:`form_int`, which gives None for anything that is not a whole number in range.
"""

from __future__ import annotations

from werkzeug.routing import IntegerConverter

#: the largest integer SQLite stores (a signed 64-bit integer)
SQLITE_MAX = 2**63 - 1


class IdConverter(IntegerConverter):
    """``<int:...>`` limited to what SQLite can hold (0..2**63-1 unless the route says less)."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = None,
                 signed: bool = False) -> None:
        limit = SQLITE_MAX if max is None or max > SQLITE_MAX else max
        super().__init__(map, fixed_digits, min, limit, signed)


def form_int(text: str | None, low: int = 0, high: int = SQLITE_MAX) -> int | None:
    """``text`` as a whole number in ``low..high``, or None (missing, not a number, out of range).
    Only plain digits (an optional leading minus) count: no spaces, signs, underscores or exponents."""
    text = (text or "").strip()
    digits = text[1:] if text.startswith("-") else text
    if not digits or len(digits) > 19 or not digits.isascii() or not digits.isdigit():
        return None
    value = int(text)
    return value if low <= value <= high else None
