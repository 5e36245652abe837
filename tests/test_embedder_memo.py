"""The packaged embedder gives a text made before the vector it made then: the same floats as a fresh pooling."""

from __future__ import annotations

import numpy as np
import pytest

from llmtrade.memory import embedder
from llmtrade.memory.embedder import BLANK, PackagedEmbedder

TEXTS = [
    "SPY breaks out above its 20-day high",
    "",
    "XLE mean reversion after a 3-sigma drop",
    "SPY breaks out above its 20-day high",
]


@pytest.fixture
def empty_memo(monkeypatch: pytest.MonkeyPatch) -> dict[str, np.ndarray]:
    memo: dict[str, np.ndarray] = {}
    monkeypatch.setattr(embedder, "_MADE", memo)
    return memo


def test_a_text_embedded_again_gets_the_same_floats_as_a_fresh_pooling(empty_memo: dict[str, np.ndarray]) -> None:
    packaged = PackagedEmbedder()
    first = packaged.embed(TEXTS)
    assert set(empty_memo) == set(TEXTS)  # each distinct text pooled once, the repeat within the batch included
    again = packaged.embed(list(reversed(TEXTS)))
    fresh = [v.tolist() for v in packaged._pooled(TEXTS)]
    assert first == fresh
    assert again == list(reversed(fresh))
    assert all(type(x) is float for x in again[0])
    assert first[1] == list(BLANK)


def test_a_vector_handed_out_is_a_copy_the_caller_may_change(empty_memo: dict[str, np.ndarray]) -> None:
    packaged = PackagedEmbedder()
    vector = packaged.embed(TEXTS[:1])[0]
    vector[0] = 42.0
    assert packaged.embed(TEXTS[:1])[0] == packaged._pooled(TEXTS[:1])[0].tolist()


def test_the_memo_keeps_only_the_newest_texts(
    empty_memo: dict[str, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedder, "_MADE_MAX", 2)
    packaged = PackagedEmbedder()
    packaged.embed(["one", "two", "three"])
    assert list(empty_memo) == ["two", "three"]
