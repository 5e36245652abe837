"""The bar cache's validated ranges (market_vouched): a range that passed validation as read from the cache
is not validated again, and any write of bars over it takes that back. On a real PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date

import psycopg
import pytest

from llmtrade.clock import FixedClock
from llmtrade.domain.market import Bar
from llmtrade.market import service
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage, open_storage
from tests.support import FIXED_NOW

START, END = date(2025, 11, 3), date(2026, 1, 9)


@pytest.fixture(scope="module")
def shared(pg_admin_url: str) -> Iterator[Storage]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, query = pg_admin_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as opened:
        yield opened


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many bars each validation the market service runs looks at."""
    seen: list[int] = []
    real = service.validate_bars

    def counting(bars: dict[str, list[Bar]], *args: object, **kw: object) -> object:
        seen.append(sum(len(b) for b in bars.values()))
        return real(bars, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(service, "validate_bars", counting)
    return seen


def _market(shared: Storage, symbols: dict[str, str]) -> MarketData:
    return MarketData(
        [SyntheticMarket(symbols)], BarCache(shared.conn), TradingCalendar(), Recording(shared.events, "r")
    )


def test_a_range_validated_once_is_read_again_without_validating_it_and_the_same_bars(
    shared: Storage, validations: list[int]
) -> None:
    market = _market(shared, {"VA1": "equity"})
    fetched = market.bars(["VA1"], START, END)  # the provider's answer: validated, stored and vouched
    first = market.bars(["VA1"], START, END)  # from the cache: the range holds exactly those bars
    assert len(validations) == 1
    again = market.bars(["VA1"], START, END)
    inside = market.bars(["VA1"], date(2025, 12, 1), END)  # a range inside a vouched one
    assert len(validations) == 1  # none was validated again
    assert again.from_cache and again.validated and again.bars == first.bars == fetched.bars
    assert inside.bars["VA1"] == [b for b in first.bars["VA1"] if b.day >= date(2025, 12, 1)]
    cache = BarCache(shared.conn)
    assert cache.vouched(["VA1"], START, END, synthetic=True)
    assert not cache.vouched(["VA1"], START, date(2026, 1, 16), synthetic=True)  # past the vouched end
    assert not cache.vouched(["VA1", "VA2"], START, END, synthetic=True)  # a symbol never vouched


def test_storing_or_forgetting_bars_over_a_vouched_range_takes_the_vouch_back(
    shared: Storage, validations: list[int]
) -> None:
    market, cache = _market(shared, {"VB1": "equity"}), BarCache(shared.conn)
    market.bars(["VB1"], START, END)
    market.bars(["VB1"], START, END)
    assert cache.vouched(["VB1"], START, END, synthetic=True)
    later = SyntheticMarket({"VB1": "equity"}).daily_bars(["VB1"], date(2026, 1, 5), date(2026, 1, 9))
    cache.store(later, date(2026, 1, 5), date(2026, 1, 9), provider="synthetic", synthetic=True)
    assert not cache.vouched(["VB1"], START, END, synthetic=True)  # rows in it changed: checked again
    before = len(validations)
    market.bars(["VB1"], START, END)
    assert len(validations) == before + 1
    assert cache.vouched(["VB1"], START, END, synthetic=True)
    cache.forget(["VB1"], date(2025, 12, 1), date(2025, 12, 5), synthetic=True)
    assert not cache.vouched(["VB1"], START, END, synthetic=True)


def test_a_fetched_range_is_not_vouched_when_the_cache_holds_a_row_the_answer_lacks(
    shared: Storage, validations: list[int]
) -> None:
    """A bar left from an earlier answer on a day the new one lacks (a Sunday) would be read back with the
    validated bars: the range is not vouched, so the next read validates it and refuses the Sunday."""
    market, cache = _market(shared, {"VC1": "equity"}), BarCache(shared.conn)
    sunday = date(2025, 12, 7)
    stray = Bar(symbol="VC1", day=sunday, open=10, high=11, low=9, close=10, volume=1, source="old", synthetic=True)
    cache.store({"VC1": [stray]}, sunday, sunday, provider="old", synthetic=True)
    fetched = market.bars(["VC1"], START, END)
    assert not fetched.from_cache and len(validations) == 1
    assert cache.count(["VC1"], START, END, synthetic=True) == len(fetched.bars["VC1"]) + 1
    assert not cache.vouched(["VC1"], START, END, synthetic=True)
    again = market.bars(["VC1"], START, END)  # validated as read: the Sunday is refused, the provider asked afresh
    assert len(validations) >= 2 and sunday not in {b.day for b in again.bars["VC1"]}
