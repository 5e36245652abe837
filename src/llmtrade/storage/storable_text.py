"""Any text as PostgreSQL stores it: each NUL and each lone UTF-16 surrogate read as U+FFFD, on every connection.

jsonb refuses JSON's `\\u0000` ("unsupported Unicode escape sequence") and a lone `\\ud800` ("Unicode low surrogate
must follow a high surrogate"); text refuses a NUL byte, and a lone surrogate cannot even be encoded in UTF-8. Such
a character comes from text llmtrade does not write itself: a market data value, a provider's or a broker's error,
an exception's words, a YAML value written "\\0". The write of the event recording it failed with a database error:
the run's record was lost, and a RunFailed that could not be written hid the error it was to record. Each is read as
U+FFFD, as a decoder reads bytes it cannot, where every write passes (`use_storable_text`, set on every connection
by storage/connection.py `connect`): the words are kept, marked where they held the character.

Cheap where nothing is wrong, which is every time in practice: a str parameter costs a substring test (a lone
surrogate is found by the UTF-8 encode that fails on it) and a Python call in place of psycopg's C dumper (600,000
COPY fields, a backtest's bars: +0.07 s); a JSON document is scanned for the escapes once, as text, and walked only
when one is there (a backtest stores 32,000 events). The sole writer (storage/sole_writer.py) serializes its payloads
itself and keeps them in memory: storage/jsonb_read.py `as_read` checks its text and takes `json_text`'s way for one
that needs it, so its copy is what a read gives back. The events' own columns (type, stream, account and run ids)
are identifiers of a set pattern, held as given."""

from __future__ import annotations

import functools
import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# An escape json.dumps writes for a character jsonb may refuse: NUL, or a surrogate (an emoji is written as a pair,
# which jsonb takes: the walk finds out whether one is alone).
_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def storable_str(text: str) -> str:
    """`text` with every NUL and every lone surrogate read as U+FFFD (the same str when it holds none)."""
    return _UNSTORABLE.sub("\ufffd", text)


def storable(value: Any) -> Any:
    """`value` (JSON's values: dicts, lists, strs, scalars) with every str in it, keys too, `storable_str`."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {storable(key): storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [storable(item) for item in value]
    return value


def may_be_unstorable(json_text: str) -> bool:
    """Whether JSON text (json.dumps', ASCII) may hold an escape jsonb refuses: then its value is to be `storable`."""
    return "\\u" in json_text and _ESCAPE.search(json_text) is not None


def storable_parsed(data: Any, text: str) -> Any:
    """`data`, parsed from JSON `text` (a provider's reply or error body), with its unstorable characters U+FFFD: walked
    only when `text` holds such an escape. Models do write NUL (agent traces met it: METR/vivaria#433), and a stream
    split inside an emoji leaves a lone surrogate; the reply is kept, marked where they were, and what the stages read
    is what is stored (a raw NUL or surrogate byte is no JSON at all, refused before this)."""
    return storable(data) if may_be_unstorable(text) else data


def json_text(value: Any) -> str:
    """`value` as json.dumps writes it (psycopg's default for Json and Jsonb), its unstorable characters U+FFFD."""
    text = json.dumps(value)
    return json.dumps(storable(value)) if may_be_unstorable(text) else text


def use_storable_text(conn: psycopg.Connection) -> None:
    """Every str `conn` sends (a parameter, an array's item, a COPY's text field) and every Json or Jsonb it sends
    with their unstorable characters read as U+FFFD."""
    from psycopg.types.json import set_json_dumps

    for dumper in _dumpers():
        conn.adapters.register_dumper(str, dumper)
    set_json_dumps(json_text, conn)


@functools.cache
def _dumpers() -> list[type]:
    """psycopg's str dumpers, in the order psycopg registers them (the last of each format is its default), each
    sending the str `storable_str`. Subclasses of its Python classes: a C dumper's `dump` is not called from C."""
    from psycopg.types import string

    bases = [
        string.StrBinaryDumperName,
        string.StrBinaryDumperVarchar,
        string.StrBinaryDumper,
        string.StrDumperName,
        string.StrDumperVarchar,
        string.StrDumper,
        string.StrDumperUnknown,
    ]
    return [type(f"Storable{base.__name__}", (base,), {"dump": _dump}) for base in bases]


def _dump(self: Any, obj: str) -> bytes:
    if "\x00" in obj:
        obj = _UNSTORABLE.sub("\ufffd", obj)
    try:
        return obj.encode(self._encoding)
    except UnicodeEncodeError:
        # A lone surrogate (the only character UTF-8 cannot encode); in another encoding the error is said as before.
        return _UNSTORABLE.sub("\ufffd", obj).encode(self._encoding)
