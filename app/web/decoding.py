"""Decode a request body once, at the edge, straight into its typed request."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from app.errors import AppError, Code, ValidationFailedError
from app.web.errors import error_item, validation_detail

__all__ = ["decode_body"]

T = TypeVar("T")
_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


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
        AppError: 400 ``E_MALFORMED_JSON`` when the body is empty or not JSON.
        ValidationFailedError: 422 when a field has the wrong type or is missing, naming
            its path.
    """
    decoder = _DECODERS.get(type_)
    if decoder is None:
        decoder = _DECODERS[type_] = msgspec.json.Decoder(type_)
    if not body.strip():
        raise AppError(
            "The request body is empty; a JSON object is required.",
            code=Code.MALFORMED_JSON,
            status=400,
        )
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        item = error_item(str(exc))
        raise ValidationFailedError(validation_detail([item]), errors=[item]) from exc
    except msgspec.DecodeError as exc:
        raise AppError(
            f"The request body is not valid JSON ({exc}).", code=Code.MALFORMED_JSON, status=400
        ) from exc
