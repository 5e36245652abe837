"""Splits on an Alpaca account (through the real alpaca-py client against the loopback fake): Alpaca splits a position
itself, before the ex-day's open; llmtrade's fills and the user's adoptions stay as they were made. Before, shares
adopted by hand before a split were not scaled (a quantity mismatch of 10 against the broker's 40, managing 10)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from llmtrade.brokers.reconcile import look
from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import SplitDetected
from llmtrade.domain.reconciliation import PositionAdopted
from llmtrade.domain.streams import SPLITS, managed_stream
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, SECRET, broker_for

ACCOUNT = "pm-alpha"


@pytest.fixture
def alpaca() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        yield fake


def _split(storage: Storage, symbol: str, ex_day: date, ratio: float, looks_like: str) -> None:
    split = SplitDetected(
        symbol=symbol, ex_day=ex_day, ratio=ratio, looks_like=looks_like, price=50.0, provider="alpaca", evidence="t"
    )
    storage.events.append([NewEvent.of(split, stream=SPLITS, run_id="r2")])


def _adopt(storage: Storage, symbol: str, qty: int, avg: float) -> None:
    adopted = PositionAdopted(account_id=ACCOUNT, symbol=symbol, qty=qty, avg_price=avg, price=avg * 1.1)
    storage.events.append([NewEvent.of(adopted, stream=managed_stream(ACCOUNT), account_id=ACCOUNT)])


@pytest.mark.parametrize(("ratio", "looks_like", "held"), [(4.0, "4-for-1", 40), (0.25, "1-for-4", 2)])
def test_shares_adopted_before_a_split_are_managed_split_and_those_adopted_after_it_as_they_are(
    alpaca: FakeAlpacaServer, storage: Storage, ratio: float, looks_like: str, held: int
) -> None:
    """10 GLD adopted by hand (recorded Wednesday 2026-01-07), split from Thursday: Alpaca holds them split. SPY's split
    (Wednesday's ex-day, before its adoption) was in the adopted shares already: not scaled again."""
    broker = broker_for(alpaca)
    alpaca.set_position("GLD", 10, 200.0)
    alpaca.set_position("SPY", 12, 50.0)
    _adopt(storage, "GLD", 10, 200.0)
    _adopt(storage, "SPY", 12, 50.0)
    _split(storage, "SPY", date(2026, 1, 7), 4.0, "4-for-1")
    _split(storage, "GLD", date(2026, 1, 8), ratio, looks_like)
    alpaca.set_position("GLD", held, 200.0 / ratio)  # Alpaca's split (a fraction of a share, if any, paid in cash)
    prices = {"GLD": 200.0 / ratio, "SPY": 50.0}
    seen = look(storage.events, broker, broker.account(prices), prices)
    assert seen.differences == []
    assert {s: p.qty for s, p in seen.managed.positions.items()} == {"GLD": held, "SPY": 12}
    assert seen.ledger.adopted == {"GLD": held, "SPY": 12}
    # What the adopted shares made before their adoption is the same money, split or not.
    assert seen.ledger.adopted_pnl["GLD"] == pytest.approx(10 * 20.0 if ratio > 1 else held * 80.0)
