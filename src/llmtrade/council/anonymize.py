"""Labels that hide who wrote what, shuffled independently for every reader.

Seeded by the inputs (not by the clock) so a replayed run renders byte-identical prompts.
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Sequence


def labels_for(items: Sequence[str], *, reader: str, salt: str) -> dict[str, str]:
    """Map letters A, B, C, ... to `items` in an order shuffled for this reader."""
    if len(items) > len(string.ascii_uppercase):
        raise ValueError("at most 26 items can be labelled")
    order = list(items)
    random.Random(_seed(reader, salt)).shuffle(order)
    return {letter: item for letter, item in zip(string.ascii_uppercase, order, strict=False)}


def _seed(*parts: str) -> int:
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:16], 16)
