"""Opaque page cursors of the list routes: ``next`` in an answer, ``cursor`` in the query.

A cursor wraps the key of the last item of a page (a store position, or a world id for
lists ordered by world) with the name of the list it belongs to, in URL-safe base64.
Clients pass it back unchanged; its content is not part of the contract. Keys never change,
so a cursor stays valid while items are added: the next page starts right after the item it
names.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["CursorError", "decode_cursor", "decode_text_cursor", "encode_cursor"]

# Positions are 64-bit in every store: a larger one cannot exist (and would not fit a query).
_MAX_POSITION = 2**63 - 1


class CursorError(ValueError):
    """A ``cursor`` that no page of this list handed out."""


def encode_cursor(kind: str, key: int | str) -> str:
    """The cursor of ``key`` (a position or a text key) in the list ``kind`` (``plans``)."""
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def _unwrap(kind: str, cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise CursorError("not a cursor handed out by this list") from None
    name, sep, key = raw.partition(":")
    if not sep or name != kind:
        raise CursorError("not a cursor handed out by this list")
    return key


def decode_cursor(kind: str, cursor: str) -> int:
    """The position inside a cursor of the list ``kind``.

    Raises:
        CursorError: the text is not such a cursor (malformed, or of another list).
    """
    number = _unwrap(kind, cursor)
    # ASCII digits only: str.isdigit() also takes characters int() refuses ("²").
    if not (number.isascii() and number.isdigit()) or len(number) > 19:
        raise CursorError("not a cursor handed out by this list")
    position = int(number)
    if position > _MAX_POSITION:
        raise CursorError("not a cursor handed out by this list")
    return position


def decode_text_cursor(kind: str, cursor: str) -> str:
    """The text key inside a cursor of the list ``kind`` (a world id, for instance).

    Raises:
        CursorError: the text is not such a cursor (malformed, or of another list).
    """
    key = _unwrap(kind, cursor)
    if not key:
        raise CursorError("not a cursor handed out by this list")
    return key
