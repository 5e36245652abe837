"""The vectors of an /embeddings reply, checked: one per input, in input order, each a list of numbers rounded to
float32 (what pgvector keeps) that pgvector can store and compare; else EmbeddingMalformed (exit 1: asking again gets
the same answer). llm/embeddings.py's EmbeddingClient reads its replies through `reply_vectors`."""

from __future__ import annotations

import math
import struct
from typing import Any

from llmtrade.errors import OperationalError

# pgvector's limit for a `vector` column (memory_setups.embedding and kin have no fixed size).
PGVECTOR_MAX_DIMS = 16000


class EmbeddingMalformed(OperationalError):
    """A 200 from an /embeddings endpoint that is not one vector of numbers per input."""


def reply_vectors(data: dict[str, Any], count: int, provider: str, model: str) -> list[list[float]]:
    """One float32 vector per input, in order; else EmbeddingMalformed (a vector `_unusable` names too)."""
    items = data.get("data")
    if not isinstance(items, list) or len(items) != count:
        got = len(items) if isinstance(items, list) else type(items).__name__
        raise EmbeddingMalformed(f"{provider} returned {got} embeddings from {model} for {count} input(s)")
    by_index: dict[int, list[float]] = {}
    for position, item in enumerate(items):
        vector = item.get("embedding") if isinstance(item, dict) else None
        index = item.get("index", position) if isinstance(item, dict) else position
        if (
            not isinstance(vector, list)
            or not vector
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in vector)
        ):
            raise EmbeddingMalformed(f"{provider} returned an embedding from {model} that is not a list of numbers")
        if not isinstance(index, int) or not 0 <= index < count or index in by_index:
            raise EmbeddingMalformed(f"{provider} returned embeddings from {model} with bad indexes")
        rounded = [_f32(x) for x in vector]
        why = _unusable(rounded)
        if why:
            raise EmbeddingMalformed(
                f"{provider} returned an embedding from {model} that the memory cannot use (input {index}): {why}"
            )
        by_index[index] = rounded
    return [by_index[i] for i in range(count)]


def _unusable(vector: list[float]) -> str | None:
    """Why pgvector cannot store or compare `vector`, else None: it refuses NaN and infinite values and more than
    PGVECTOR_MAX_DIMS dimensions, and a vector of zeros has no direction (its cosine distance to anything is NaN)."""
    if len(vector) > PGVECTOR_MAX_DIMS:
        return f"{len(vector)} dimensions, more than pgvector's {PGVECTOR_MAX_DIMS}"
    bad = next((i for i, x in enumerate(vector) if not math.isfinite(x)), None)
    if bad is not None:
        return f"value {bad} is {vector[bad]} (NaN, infinite, or beyond float32's range)"
    if not any(vector):
        return "every value is 0"
    return None


def _f32(x: float) -> float:
    """`x` rounded to float32, what pgvector keeps; beyond float32's range (about 3.4e38) it is infinite, which
    `_unusable` names."""
    try:
        return struct.unpack("f", struct.pack("f", float(x)))[0]
    except OverflowError:  # raised by some Python builds instead of rounding to infinity
        return math.inf if x > 0 else -math.inf
