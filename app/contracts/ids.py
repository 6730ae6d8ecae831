"""The one rule for identifiers a client sends: run, world, strategy, execution ids, symbols.

Every backend stores ids the same way only if every id is refused the same way before it
reaches a store: PostgreSQL cannot hold a NUL character in text, nor index a key much over
2.7 KB, while SQLite takes both. So an id is 1 to ``MAX_ID_LENGTH`` characters (any
Unicode) without control characters (U+0000-U+001F, U+007F-U+009F); anything else is a
422 naming the field, whichever store runs behind.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Annotated, Final

import msgspec

from app.errors import ValidationFailedError

__all__ = ["ID_PATTERN", "MAX_ID_LENGTH", "Identifier", "bad_ids", "check_id", "id_problem"]

MAX_ID_LENGTH: Final = 256
"""The most characters an identifier may have (at most 1 KiB of UTF-8)."""
ID_PATTERN: Final = "^[^\\x00-\\x1f\\x7f-\\x9f]*$"
"""No control characters (msgspec ``Meta(pattern=...)`` form of the rule)."""
_CONTROL = re.compile("[\\x00-\\x1f\\x7f-\\x9f]")

Identifier = Annotated[
    str, msgspec.Meta(min_length=1, max_length=MAX_ID_LENGTH, pattern=ID_PATTERN)
]
"""A body field that is an identifier (``run_id``, ``etag``): checked while decoding."""


def id_problem(value: str, *, allow_empty: bool = False) -> str | None:
    """Say what is wrong with an identifier, or None when it is fine.

    Args:
        value: the identifier.
        allow_empty: accept ``""`` (an optional field such as a venue, where empty = none).

    Returns:
        A short message (``"must be at most 256 characters"``) or None.
    """
    if not value:
        return None if allow_empty else "must be a non-empty string"
    if len(value) > MAX_ID_LENGTH:
        return f"must be at most {MAX_ID_LENGTH} characters (got {len(value)})"
    if _CONTROL.search(value):
        return "must not contain control characters (U+0000-U+001F, U+007F-U+009F)"
    return None


def bad_ids(values: Iterable[str]) -> bool:
    """Say quickly whether any non-empty value in ``values`` breaks the rule (a fast check
    over distinct names; the caller then names each bad one with :func:`id_problem`)."""
    names = [v for v in values if v]
    if not names:
        return False
    return max(map(len, names)) > MAX_ID_LENGTH or bool(_CONTROL.search("".join(names)))


def check_id(value: str, path: str) -> str:
    """Return ``value`` when it is a valid identifier.

    Args:
        value: an id from a path, a query string or a header.
        path: how the error names it (``"$.world_id"``).

    Raises:
        ValidationFailedError: 422 naming ``path`` and what is wrong.
    """
    problem = id_problem(value)
    if problem is not None:
        raise ValidationFailedError(
            f"{path}: {problem}", errors=[{"path": path, "message": problem}]
        )
    return value
