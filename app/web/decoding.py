"""Decode a request body once, at the edge, straight into its typed request."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request

from app.errors import AppError, Code, ValidationFailedError
from app.web.errors import error_item, validation_detail

__all__ = ["decode_body", "is_json_media_type", "json_body", "optional_json_body"]

T = TypeVar("T")
_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}
_NOT_JSON = (
    "The request body must be JSON: send `Content-Type: application/json` "
    "(got {got})."
)


def is_json_media_type(content_type: str | None) -> bool:
    """Say whether a ``Content-Type`` header names JSON in UTF-8.

    ``application/json`` and any ``application/<something>+json`` are JSON; parameters are
    allowed, but a ``charset`` other than UTF-8 is not (the body is decoded as UTF-8).
    """
    if not content_type:
        return False
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    kind, _, subtype = media.partition("/")
    if kind != "application" or not (subtype == "json" or subtype.endswith("+json")):
        return False
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            return False
    return True


async def json_body(request: Request[Any, Any, Any]) -> bytes:
    """Return the raw body of a request that declares JSON, refusing any other media type.

    The media type is checked before the body is read. Requiring JSON also keeps browsers
    from posting cross-site "simple" requests (``text/plain``, forms, no type at all) to a
    server whose token check is off.

    Raises:
        AppError: 415 ``E_UNSUPPORTED_MEDIA_TYPE`` when ``Content-Type`` is missing or is
            not JSON in UTF-8.
    """
    _refuse_unless_json(request.headers.get("content-type"))
    return await request.body()


async def optional_json_body(request: Request[Any, Any, Any]) -> bytes:
    """Return the raw body of a request whose body may be left out (``b""`` then); a body
    that is sent must be declared JSON, as for :func:`json_body`.

    Raises:
        AppError: 415 ``E_UNSUPPORTED_MEDIA_TYPE`` when a non-empty body is not declared
            JSON in UTF-8.
    """
    raw = await request.body()
    if not raw.strip():
        return b""
    _refuse_unless_json(request.headers.get("content-type"))
    return raw


def _refuse_unless_json(content_type: str | None) -> None:
    if not is_json_media_type(content_type):
        got = f"`{content_type[:100]}`" if content_type else "no Content-Type"
        raise AppError(
            _NOT_JSON.format(got=got), code=Code.UNSUPPORTED_MEDIA_TYPE, status=415
        )


def decode_body(body: bytes, type_: type[T]) -> T:
    """Decode a JSON request body into ``type_`` in one typed msgspec pass.

    Every HTTP door (WorldService and Gateway) decodes with this one function, so the same
    body gets the same refusal, with the same error path, whichever door it came through.

    Args:
        body: the raw request body.
        type_: the msgspec Struct to decode into (unknown fields are ignored).

    Returns:
        The decoded value.

    Raises:
        AppError: 400 ``E_MALFORMED_JSON`` when the body is empty, not JSON, not UTF-8, or
            nested too deeply to decode.
        ValidationFailedError: 422 when a field has the wrong type or is missing, naming
            its path.
    """
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_)
    if not body.strip():
        raise _malformed("The request body is empty; a JSON object is required.")
    # msgspec checks UTF-8 only in the strings it decodes (not in skipped unknown fields);
    # JSON is UTF-8 throughout. ASCII (the usual body) is checked without a copy.
    if not body.isascii():
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _malformed(f"The request body is not valid UTF-8 (byte {exc.start}).") from exc
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        item = error_item(str(exc))
        raise ValidationFailedError(validation_detail([item]), errors=[item]) from exc
    except msgspec.DecodeError as exc:
        raise _malformed(f"The request body is not valid JSON ({exc}).") from exc
    except RecursionError as exc:  # msgspec stops where Python's recursion limit is
        raise _malformed(
            "The request body is nested too deeply to decode (JSON arrays and objects "
            "nested hundreds of levels)."
        ) from exc


def _malformed(detail: str) -> AppError:
    return AppError(detail, code=Code.MALFORMED_JSON, status=400)
