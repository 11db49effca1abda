"""Request body parsers."""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding


class JSONBodyParser(JSONParser):
    """Parse JSON bodies with orjson, which refuses what the stored data cannot hold.

    orjson rejects lone surrogates (no UTF-8 for them: rendering an echo of one failed),
    NaN and Infinity literals, and nesting past 1,024 levels (the standard parser recursed
    until Python gave up). Text holding NUL (PostgreSQL cannot store it) and nesting past
    `MAX_DEPTH` are refused here.
    """

    def parse(self, stream, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        raw = stream.read() if stream is not None else b""
        encoding = get_encoding(parser_context or {})
        try:
            if encoding.lower().replace("-", "") != "utf8":
                raw = raw.decode(encoding).encode("utf-8")
            data = orjson.loads(raw)
        except (orjson.JSONDecodeError, UnicodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        problem = _unstorable(data)
        if problem:
            raise ParseError(f"JSON parse error - {problem}")
        return data


MAX_DEPTH = 64  # far beyond any request here; deeper bodies fail later in encoders that recurse


def _unstorable(data: Any) -> str | None:
    """Say what in `data` no field can store: text holding NUL, or nesting past `MAX_DEPTH` (a loop, not recursion)."""
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return "text must not contain NUL characters (\\u0000)"
        elif isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            pending.extend((item, depth + 1) for item in items)
    return None
