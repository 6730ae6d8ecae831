"""The ``cursor`` query parameter of the list routes, and the ``next`` of their answers."""

from __future__ import annotations

from typing import Annotated

from litestar.params import QueryParameter

from app.contracts.pages import CursorError, decode_cursor, decode_text_cursor, encode_cursor
from app.errors import ValidationFailedError

__all__ = ["DEFAULT_PAGE", "MAX_PAGE", "Limit", "next_cursor", "page_start", "text_page_start"]

MAX_PAGE = 1000
"""The largest ``limit`` of one page; follow ``next`` for more."""
DEFAULT_PAGE = 50
"""The ``limit`` of a page when the caller gives none."""

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description=(
    f"Items per page, 1..{MAX_PAGE}; follow `next` for the following page."))]


def page_start(kind: str, cursor: str | None) -> int | None:
    """The store position a ``cursor`` of list ``kind`` continues after (None: first page).

    Raises:
        ValidationFailedError: 422 ``E_VALIDATION`` naming ``$.cursor`` for a cursor this
            list did not hand out.
    """
    if cursor is None or cursor == "":
        return None
    try:
        return decode_cursor(kind, cursor)
    except CursorError as exc:
        raise _invalid(exc) from None


def text_page_start(kind: str, cursor: str | None) -> str | None:
    """As ``page_start``, for lists ordered by a text key (world ids)."""
    if cursor is None or cursor == "":
        return None
    try:
        return decode_text_cursor(kind, cursor)
    except CursorError as exc:
        raise _invalid(exc) from None


def _invalid(exc: CursorError) -> ValidationFailedError:
    message = f"{exc}; pass the `next` value of a previous answer unchanged"
    return ValidationFailedError(
        f"Invalid cursor: {message}.", errors=[{"path": "$.cursor", "message": message}]
    )


def next_cursor(kind: str, key: int | str | None) -> str | None:
    """The ``next`` of an answer: the cursor after ``key`` (None on the last page)."""
    return None if key is None else encode_cursor(kind, key)
