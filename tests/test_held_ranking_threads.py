"""memory/held_ranking.py `cosine_distances` takes the setups' matrix-vector product in chunks OpenBLAS runs on one
thread: at 460,800 elements or more (1,800 setup vectors of 256 dimensions) it splits one product over threads that
spin, ~10x the CPU on a busy 2-core machine, so a long backtest's reads would jump in cost past that many setups."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from llmtrade.memory import held_ranking
from llmtrade.memory.held_ranking import cosine_distances

OPENBLAS_THREADED_FROM = 460_800  # OpenBLAS interface/gemv.c: m * n below 115,200 * GEMM_MULTITHREAD_THRESHOLD (4)


def test_no_product_reaches_the_threaded_size_and_the_distances_are_the_whole_products(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(5)
    vectors = rng.standard_normal((4_100, 256)).astype(np.float32).astype(np.float64)
    vectors /= np.sqrt((vectors * vectors).sum(axis=1))[:, None]
    query = vectors[17] + 1e-3 * rng.standard_normal(256)
    query /= np.sqrt(query @ query)
    squares = (vectors * vectors).sum(axis=1)
    sizes: list[int] = []
    real = np.dot

    def counting(a: Any, b: Any, out: Any = None) -> Any:
        sizes.append(int(np.size(a)))
        return real(a, b, out=out)

    monkeypatch.setattr(held_ranking.np, "dot", counting)
    found = cosine_distances(vectors, squares, query)
    monkeypatch.undo()
    assert sizes and max(sizes) < OPENBLAS_THREADED_FROM and sum(sizes) == vectors.size
    whole = 1.0 - np.clip((vectors @ query) / np.sqrt(squares * float(query @ query)), -1.0, 1.0)
    assert found is not None and np.allclose(found, whole, rtol=0, atol=1e-12)
    assert int(np.argmin(found)) == 17
