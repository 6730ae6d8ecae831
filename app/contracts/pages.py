"""Opaque page cursors of the list routes: ``next`` in an answer, ``cursor`` in the query.

A cursor wraps the store position of the last item of a page with the name of the list it
belongs to, in URL-safe base64. Clients pass it back unchanged; its content is not part of
the contract. Positions are insertion order, so a cursor stays valid while items are added:
the next page starts right after the item it names.
"""

from __future__ import annotations

import base64
import binascii

__all__ = ["CursorError", "decode_cursor", "encode_cursor"]


class CursorError(ValueError):
    """A ``cursor`` that no page of this list handed out."""


def encode_cursor(kind: str, position: int) -> str:
    """The cursor of ``position`` in the list ``kind`` (e.g. ``plans``)."""
    return base64.urlsafe_b64encode(f"{kind}:{position}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str) -> int:
    """The position inside a cursor of the list ``kind``.

    Raises:
        CursorError: the text is not such a cursor (malformed, or of another list).
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise CursorError("not a cursor handed out by this list") from None
    name, sep, number = raw.partition(":")
    if not sep or name != kind or not number.isdigit() or len(number) > 19:
        raise CursorError("not a cursor handed out by this list")
    return int(number)
