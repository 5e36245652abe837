"""A vouched range's bars are built without model_construct (domain/market.py trusted_bar): they must be exactly the
bars model_construct, and validation, would build -- same fields, same values, same set fields, equal and hashing
alike -- on a real PostgreSQL."""

from __future__ import annotations

from datetime import date

from llmtrade.domain.market import Bar
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage

DAYS = (date(2026, 1, 5), date(2026, 1, 6))


def test_a_trusted_read_builds_the_bars_an_untrusted_read_validates(storage: Storage) -> None:
    cache = BarCache(storage.conn)
    stored = {
        symbol: [
            Bar(symbol=symbol, day=d, open=10 + i, high=12 + i, low=9 + i, close=11 + i, volume=0.0, source="csv")
            for i, d in enumerate(DAYS)
        ]
        for symbol in ("SPY", "QQQ")
    }
    cache.store(stored, DAYS[0], DAYS[-1], provider="csv", synthetic=False)
    trusted = cache.read(["SPY", "QQQ"], DAYS[0], DAYS[-1], synthetic=False, trusted=True)
    checked = cache.read(["SPY", "QQQ"], DAYS[0], DAYS[-1], synthetic=False)
    assert trusted == checked == stored
    for bars in trusted.values():
        for bar in bars:
            built = Bar.model_construct(**bar.__dict__)
            assert type(bar) is Bar and list(bar.__dict__) == list(Bar.model_fields)  # a new field would show here
            assert bar.model_fields_set == built.model_fields_set == set(Bar.model_fields)
            assert bar.__pydantic_extra__ is None and bar.__pydantic_private__ is None
            assert hash(bar) == hash(built) and bar.model_dump() == built.model_dump()
