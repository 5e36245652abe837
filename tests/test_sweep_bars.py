"""The bar cache's store as every sweep run uses it (COPY into a staging table, one INSERT ... SELECT upsert):
what it writes is what one INSERT per bar wrote -- exact floats, a later bar of the same day wins, a store
again inside one outer transaction works, a failed store leaves nothing behind."""

from __future__ import annotations

from datetime import date

import pytest

from llmtrade.domain.market import Bar
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage

DAY = date(2026, 1, 5)


def _bar(day: date, close: float, *, symbol: str = "SPY", source: str = "synthetic") -> Bar:
    return Bar(
        symbol=symbol,
        day=day,
        open=close,
        high=close * 1.01,
        low=close * 0.99,
        close=close,
        volume=1e6,
        source=source,
        synthetic=True,
    )


def test_stored_bars_read_back_bit_for_bit_and_a_later_store_overwrites(storage: Storage) -> None:
    cache = BarCache(storage.conn)
    awkward = 0.1 + 0.2  # 0.30000000000000004: a float that a lossy text round trip would change
    cache.store(
        {"SPY": [_bar(DAY, awkward), _bar(date(2026, 1, 6), 1e-300 + 1)]}, DAY, DAY, provider="p", synthetic=True
    )
    got = cache.read(["SPY"], DAY, date(2026, 1, 6), synthetic=True)["SPY"]
    assert [b.close for b in got] == [awkward, 1e-300 + 1]
    assert got[0] == _bar(DAY, awkward)

    cache.store({"SPY": [_bar(DAY, 401.5, source="csv")]}, DAY, DAY, provider="csv", synthetic=True)
    (again,) = cache.read(["SPY"], DAY, DAY, synthetic=True)["SPY"]
    assert (again.close, again.source) == (401.5, "csv")
    assert cache.covers(["SPY"], DAY, DAY, synthetic=True)


def test_two_stores_in_one_outer_transaction_and_a_duplicate_day_the_later_wins(storage: Storage) -> None:
    cache = BarCache(storage.conn)
    with storage.conn.transaction():
        cache.store({"SPY": [_bar(DAY, 10.0), _bar(DAY, 11.0)]}, DAY, DAY, provider="p", synthetic=True)
        cache.store({"QQQ": [_bar(DAY, 20.0, symbol="QQQ")]}, DAY, DAY, provider="p", synthetic=True)
    found = cache.read(["SPY", "QQQ"], DAY, DAY, synthetic=True)
    assert [b.close for b in found["SPY"]] == [11.0]
    assert [b.close for b in found["QQQ"]] == [20.0]


def test_a_failed_store_writes_no_bar_and_no_fetch_record(storage: Storage) -> None:
    cache = BarCache(storage.conn)
    storage.conn.execute("ALTER TABLE market_bars ADD CONSTRAINT cheap CHECK (close < 100)")
    with pytest.raises(Exception, match="cheap"):
        cache.store({"SPY": [_bar(DAY, 50.0), _bar(date(2026, 1, 6), 500.0)]}, DAY, DAY, provider="p", synthetic=True)
    assert cache.read(["SPY"], DAY, date(2026, 1, 6), synthetic=True)["SPY"] == []
    assert not cache.covers(["SPY"], DAY, DAY, synthetic=True)
    cache.store({"SPY": [_bar(DAY, 50.0)]}, DAY, DAY, provider="p", synthetic=True)  # the staging table is gone
    assert [b.close for b in cache.read(["SPY"], DAY, DAY, synthetic=True)["SPY"]] == [50.0]
