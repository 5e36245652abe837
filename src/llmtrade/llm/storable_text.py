"""A reply's strings as PostgreSQL can store them: no NUL, no lone UTF-16 surrogate.

JSON's `\\u0000` and a `\\ud83d` whose pair never came (a stream split inside an emoji) parse into Python strings that
jsonb and text refuse ("unsupported Unicode escape sequence: \\u0000 cannot be converted to text"; "surrogates not
allowed"): the call's event, and the answer cache, could not be written, and the paid answer was lost with the
database's error in place of the model's. Models do write NUL (agent traces met it: METR/vivaria#433). Each such
character is read as U+FFFD, the replacement character, as a decoder reads bytes it cannot: the answer is kept, marked
where the model wrote it. Only a body whose text holds such an escape is walked (a raw NUL or surrogate byte is no JSON
at all, refused before this)."""

from __future__ import annotations

import re
from typing import Any

# An escape that may make a character jsonb refuses: NUL, or any surrogate (a pair is folded into one character by
# json.loads, so only a lone one is left in a string; the walk finds out which).
_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(data: Any, text: str) -> Any:
    """`data` (parsed from `text`) with every NUL and lone surrogate in its strings read as U+FFFD."""
    return _walk(data) if _ESCAPE.search(text) else data


def _walk(value: Any) -> Any:
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_walk(key): _walk(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item) for item in value]
    return value
