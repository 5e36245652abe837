"""Labels that hide who wrote what, shuffled independently for every reader.

Seeded by the inputs (not by the clock) so a replayed run renders byte-identical prompts.
"""

from __future__ import annotations

import hashlib
import random
import re
import string
from collections.abc import Mapping, Sequence


def labels_for(items: Sequence[str], *, reader: str, salt: str) -> dict[str, str]:
    """Map letters A, B, C, ... to `items` in an order shuffled for this reader."""
    if len(items) > len(string.ascii_uppercase):
        raise ValueError("at most 26 items can be labelled")
    order = list(items)
    random.Random(_seed(reader, salt)).shuffle(order)
    return {letter: item for letter, item in zip(string.ascii_uppercase, order, strict=False)}


def unmasked(text: str, names: Mapping[str, str], *, word: str = "Pitch") -> str:
    """`text` (the chairman's, written for neutral labels) with each label of `names` ("Pitch 4" -> its PM id, or
    the general council's "Answer 2" -> its model, `word` "Answer") followed by whom it stands for: "Pitch 4 (gpt)".
    For the reader once the decision is made: the recorded decision keeps what the chairman said."""
    # A neutral label as the chairman is shown it, as a model may write it back (any case).
    neutral = re.compile(rf"\b{re.escape(word)} (\d+)\b", re.IGNORECASE)

    def named(match: re.Match[str]) -> str:
        name = names.get(f"{word} {match[1]}")
        return f"{match[0]} ({name})" if name else match[0]

    return neutral.sub(named, text)


def _seed(*parts: str) -> int:
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16], 16)
