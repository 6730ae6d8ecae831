"""Entity tags on the wire: ``ETag`` values and ``If-Match`` preconditions (RFC 9110)."""

from __future__ import annotations

__all__ = ["if_match", "quoted"]


def quoted(etag: str) -> str:
    """The ``ETag`` header value of ``etag`` (a quoted strong tag)."""
    return f'"{etag}"'


def if_match(header: str, etag: str) -> bool:
    """Say whether an ``If-Match`` header value names ``etag``.

    ``*`` matches anything; the listed tags may be quoted or bare, and a weak ``W/``
    prefix is ignored (our tags are strong: a weak copy still names the same version).
    """
    for item in header.split(","):
        tag = item.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag.strip('"') == etag:
            return True
    return False
