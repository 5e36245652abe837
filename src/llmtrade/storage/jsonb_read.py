"""A payload as PostgreSQL's jsonb gives it back, and its JSON text: what the sole writer (storage/sole_writer.py)
holds for each append, so a read from memory sees what a read from the table would."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from pydantic_core import PydanticSerializationError
from pydantic_core import to_json as _to_json

from llmtrade.storage.storable_text import json_text


class _NotPlain(Exception):
    """A value JSON would turn into something else (a non-string key, a NaN, a type of its own)."""


_ORDERS: dict[tuple[str, ...], tuple[str, ...]] = {}


def as_read(payload: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """`payload` as PostgreSQL will give it back (see `jsonb_object`), and its JSON text for the COPY.

    A payload of plain JSON values only (what a model's JSON dump holds) is rebuilt directly, which is what
    parsing its text would give at a fraction of the cost, and its text is pydantic_core's (Rust; a quarter of
    json.dumps' cost). The text differs from json.dumps' (no spaces, UTF-8 rather than \\u escapes, floats
    written as 1e-5 rather than 1e-05), but jsonb keeps values, not text: each float is written with the same
    shortest digits, so PostgreSQL's numeric gets the same value and scale, and the stored jsonb is the same
    (tests/test_sole_writer.py compares the stored rows). Anything else (a non-string key, a NaN, a type of
    its own, a lone surrogate) goes through json.dumps as before, and is parsed back from its text.

    A NUL or a lone surrogate, which jsonb refuses, is read as U+FFFD in both (storage/storable_text.py), as every
    connection's writes do: what is held is what the COPY stores. pydantic_core writes a NUL as `\\u0000` and
    refuses a lone surrogate, so one substring test finds out; such a payload takes json.dumps' way, walked."""
    try:
        text = _to_json(payload).decode()
        if "\\u0000" in text:
            raise _NotPlain
        return _plain(payload), text
    except (_NotPlain, PydanticSerializationError):
        text = json_text(payload)
        return json.loads(text, object_pairs_hook=jsonb_object, parse_float=_jsonb_float), text


_SCALARS = frozenset((str, int, bool, type(None)))
# From here up a float's shortest digits have no fraction (Python writes 1e+16): PostgreSQL's numeric renders it as
# an integer's digits, which a read parses as an int. Such floats (and NaN, infinities) take json.dumps' way.
_WHOLE = 1e16


def _jsonb_float(text: str) -> float | int:
    """A JSON number with a fraction or an exponent as a read from jsonb gives it back: a float, or an int when
    numeric renders it without a fraction (an exponent of + sign: Python writes floats from 1e16 up so)."""
    return int(Decimal(text)) if "e+" in text else float(text)


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        keys = tuple(value)
        order = _ORDERS.get(keys)
        if order is None:
            if any(type(key) is not str for key in keys):
                raise _NotPlain
            order = tuple(sorted(keys, key=_jsonb_key))
            if len(_ORDERS) < 4096:  # payloads share a few hundred key sets; a bound all the same
                _ORDERS[keys] = order
        out = {}
        for key in order:
            # Most values are scalars: taken here, without a call each (this was most of an append).
            item = value[key]
            if type(item) in _SCALARS or (type(item) is float and -_WHOLE < item < _WHOLE):
                out[key] = item
            else:
                out[key] = _plain(item)
        return out
    if kind is list or kind is tuple:
        # A list of scalars (messages' texts, symbols, prices) is checked in one pass over its types.
        types = set(map(type, value))
        if types <= _SCALARS:
            return list(value)
        if types <= _SCALARS | {float} and all(-_WHOLE < x < _WHOLE for x in value if type(x) is float):
            return list(value)
        return [_plain(item) for item in value]
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float and -_WHOLE < value < _WHOLE:  # not NaN, infinite or written whole (see _WHOLE)
        return value
    raise _NotPlain


def _jsonb_key(key: str) -> tuple[int, bytes]:
    raw = key.encode()
    return len(raw), raw


def jsonb_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A parsed JSON object with its keys in jsonb's order (shorter keys first, then bytewise), as a read
    from PostgreSQL gives them; a later key wins, as in jsonb."""
    return dict(sorted(dict(pairs).items(), key=lambda kv: _jsonb_key(kv[0])))
