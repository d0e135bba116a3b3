"""The API's one JSON reader: a bounded body, strict JSON, and text a database can store.

DRF's JSONParser reads the whole stream whatever its size (Django's DATA_UPLOAD_MAX_MEMORY_SIZE only
guards request.body and form data), so a 50 MB case was parsed and stored. Here the body is read up
to API_MAX_BODY_BYTES and refused with a JSON 413 naming the limit beyond it.

A JSON string may spell a lone surrogate (``"\\ud800"``) or a NUL (``"\\u0000"``) as an escape: Python
parses both, then PostgreSQL refuses them (NUL in text, surrogates anywhere in UTF-8) and the JSON
renderer cannot encode a surrogate, so each escaped as a 500. They are refused here, once for every
JSON body, as a 400 naming the field by its dotted path (list items by index), the shape of every
other 400.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import exceptions, status
from rest_framework.parsers import JSONParser

__all__ = [
    "BodyTooLarge",
    "BoundedJSONParser",
    "api_max_body_bytes",
    "check_body_size",
    "loads_json_body",
    "text_errors",
]

# A character PostgreSQL cannot store in text: NUL, or a UTF-16 surrogate (json.loads joins a valid
# escaped pair into one character, so any surrogate left is a lone one).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The services' own messages (priorauth.services._text_problems), so a field reads the same wherever
# it is caught.
NUL_MESSAGE = "must not contain NUL characters"
SURROGATE_MESSAGE = "must be valid Unicode text"


def unstorable_message(text: str) -> str:
    return NUL_MESSAGE if "\x00" in text else SURROGATE_MESSAGE


MAX_REPORTED = 20


def api_max_body_bytes() -> int:
    return settings.API_MAX_BODY_BYTES


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "body_too_large"

    def __init__(self, limit: int) -> None:
        super().__init__(f"The request body is larger than the limit of {limit} bytes (API_MAX_BODY_BYTES).")
        self.limit = limit


def check_body_size(meta: dict[str, Any]) -> None:
    """Refuse a body whose declared length is over the limit before reading any of it."""
    limit = api_max_body_bytes()
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise BodyTooLarge(limit)


def safe_name(key: Any) -> str:
    """A key as it can be shown in an error: unstorable characters as their escapes."""
    text = str(key)
    if UNSTORABLE.search(text):
        return text.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace").replace("\x00", "\\x00")
    return text


def text_errors(value: Any, path: str = "", found: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """Every key or string of a parsed JSON value holding an unstorable character, by dotted path."""
    found = {} if found is None else found
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack and len(found) < MAX_REPORTED:
        item, at = stack.pop()
        if isinstance(item, str):
            if UNSTORABLE.search(item):
                found[at or "(root)"] = [unstorable_message(item)]
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                name = safe_name(key)
                child_path = f"{at}.{name}" if at else name
                if name != key:
                    found[child_path] = ["field name " + unstorable_message(str(key))]
                else:
                    stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{at}.{i}" if at else str(i)) for i, child in reversed(list(enumerate(item))))
    return found


def loads_json_body(raw: bytes) -> Any:
    """Parse a JSON body: ParseError when it is not JSON, ValidationError naming each field that
    holds a NUL or a lone surrogate."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except RecursionError:  # the decoder's own limit on nesting
        raise exceptions.ParseError("JSON parse error - nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise exceptions.ParseError(f"JSON parse error - {exc}") from None
    # Both can only arrive spelled as a \u escape (raw ones are not valid UTF-8 or not valid JSON),
    # so a body without one is not walked: the checker's hot path stays as it was.
    if b"\\u" in raw:
        errors = text_errors(data)
        if errors:
            raise exceptions.ValidationError(errors)
    return data


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, reading at most API_MAX_BODY_BYTES (413 beyond) and refusing unstorable
    text (400 naming the field) and nesting beyond Python's recursion limit (400)."""

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        request = (parser_context or {}).get("request")
        if request is not None:
            check_body_size(request.META)
        limit = api_max_body_bytes()
        try:
            raw = stream.read(limit + 1) if stream is not None else b""
        except RequestDataTooBig:  # Django's own limit, when it is the lower one
            raise BodyTooLarge(limit) from None
        if len(raw) > limit:
            raise BodyTooLarge(limit)
        return loads_json_body(raw)
