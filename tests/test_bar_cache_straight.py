"""The bar cache's store: bars none of which is cached go straight in (one binary COPY), others through the staged
upsert, and both leave the table as the upsert alone would. On a real PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from llmtrade.domain.market import Bar
from llmtrade.storage import bar_cache
from llmtrade.storage.bar_cache import BarCache, row_of
from llmtrade.storage.bootstrap import Storage

_ROWS = "SELECT synthetic, symbol, day, open, high, low, close, volume, source FROM market_bars ORDER BY 1, 2, 3"


def _bars(symbol: str, first: date, n: int, close: float, *, synthetic: bool = False) -> list[Bar]:
    days = [first + timedelta(days=k) for k in range(n)]
    # 0.1 + k/3: floats whose shortest text and binary forms must give the same double back.
    return [
        Bar(
            symbol=symbol,
            day=d,
            open=close + k / 3,
            high=close + 1 + k / 3,
            low=close - 0.1,
            close=close + k / 3,
            volume=1000 + k,
            source="test",
            synthetic=synthetic,
        )
        for k, d in enumerate(days)
    ]


def _expected(*batches: dict[str, list[Bar]]) -> list[tuple[object, ...]]:
    """The rows an upsert of `batches` in order leaves: a later bar of the same symbol and day wins."""
    rows = {(b.synthetic, b.symbol, b.day): row_of(b) for batch in batches for series in batch.values() for b in series}
    return [rows[key] for key in sorted(rows)]


@pytest.fixture
def staged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables the store's COPYs write, in order."""
    tables: list[str] = []
    real_copy = bar_cache._copy
    monkeypatch.setattr(
        bar_cache, "_copy", lambda cur, table, rows: (tables.append(table), real_copy(cur, table, rows))
    )
    return tables


def test_new_bars_go_straight_in_and_overlapping_ones_are_upserted(storage: Storage, staged: list[str]) -> None:
    cache = BarCache(storage.conn)
    first = {"SPY": _bars("SPY", date(2024, 1, 1), 10, 100.1), "QQQ": _bars("QQQ", date(2024, 1, 1), 10, 200.7)}
    cache.store(first, date(2024, 1, 1), date(2024, 1, 10), provider="test", synthetic=False)
    assert staged == ["market_bars"]
    assert storage.conn.execute(_ROWS).fetchall() == _expected(first)

    # Overlapping days with new prices, and later days: the staged upsert, the later bar winning.
    second = {"SPY": _bars("SPY", date(2024, 1, 6), 10, 150.3)}
    cache.store(second, date(2024, 1, 6), date(2024, 1, 15), provider="test", synthetic=False)
    assert staged == ["market_bars", "bars_staging"]
    assert storage.conn.execute(_ROWS).fetchall() == _expected(first, second)

    # The same symbols and days as synthetic bars share no row with the real ones: straight in again.
    third = {"SPY": _bars("SPY", date(2024, 1, 1), 3, 90.0, synthetic=True)}
    cache.store(third, date(2024, 1, 1), date(2024, 1, 3), provider="test", synthetic=True)
    assert staged[-1] == "market_bars"
    assert storage.conn.execute(_ROWS).fetchall() == _expected(first, second, third)
    fetched = storage.conn.execute("SELECT count(*) FROM market_fetches").fetchone()
    assert fetched == (4,)


def test_a_bar_another_writer_stored_meanwhile_sends_the_batch_through_the_upsert(
    storage: Storage, staged: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = BarCache(storage.conn)
    first = {"SPY": _bars("SPY", date(2024, 1, 1), 5, 100.0)}
    cache.store(first, date(2024, 1, 1), date(2024, 1, 5), provider="test", synthetic=False)
    # The look for cached bars says none (another writer stores its bars between that look and the COPY): the COPY
    # meets a duplicate key, only its savepoint is undone, and the upsert writes the batch in the same transaction.
    monkeypatch.setattr(
        bar_cache, "_OVERLAP", "SELECT false FROM (SELECT %s::boolean[], %s::text[], %s::date, %s::date) a"
    )
    second = {"SPY": _bars("SPY", date(2024, 1, 3), 5, 300.0)}
    cache.store(second, date(2024, 1, 3), date(2024, 1, 7), provider="test", synthetic=False)
    assert staged == ["market_bars", "market_bars", "bars_staging"]
    assert storage.conn.execute(_ROWS).fetchall() == _expected(first, second)
    assert storage.conn.execute("SELECT count(*) FROM market_fetches").fetchone() == (2,)
