"""What a checkpoint reuses instead of working out again: the numbers of a day's indicator set (the same set for
every checkpoint of the day), and the order ids its reconciliation counted, handed to the valuation. Reuse must
never show one day's or one account's numbers for another's, nor let a caller's change reach the next caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from llmtrade.brokers.fills import observe
from llmtrade.brokers.reconcile import look, our_order_ids
from llmtrade.brokers.reconcile_records import record_differences
from llmtrade.config.models import BENCHMARK
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import Bar
from llmtrade.domain.trading import OrderFilled, OrdersPlanned, Side
from llmtrade.market.indicators import compute_indicators
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.frozen_trade import indicator_values
from llmtrade.workflows.valuation import value_account
from tests.test_checkpoint_one_look import CONFIG, PRICES, _traded
from tests.test_indicators_reuse import _bars
from tests.test_paper_broker import WEEK, _order

NOW = datetime.fromisoformat("2025-09-18T12:00:00-04:00")


@dataclass
class _Series:
    bars: dict[str, list[Bar]]


class _Market:
    """bars_asof answering from held series (what the backtest's bar cache does: the same Bar objects)."""

    def __init__(self, bars: dict[str, list[Bar]]):
        self.bars = bars

    def bars_asof(self, symbols: list[str], now: datetime, *, sessions: int = 300) -> _Series:
        return _Series({s: self.bars[s] for s in symbols})


def _expected(bars: list[Bar], spy: list[Bar], price: float, pnl: float) -> dict:
    """What `indicator_values` gives for bars of equal values but other objects: nothing of theirs is kept."""
    alike = _Market({bars[0].symbol: [b.model_copy() for b in bars], BENCHMARK: [b.model_copy() for b in spy]})
    return indicator_values(alike, bars[0].symbol, NOW, price, pnl)  # type: ignore[arg-type]


def test_each_checkpoint_of_a_day_gets_its_own_values_from_the_days_shared_set() -> None:
    tlt, spy = _bars("TLT", 260), _bars(BENCHMARK, 260, drift=0.3)
    market = _Market({"TLT": tlt, BENCHMARK: spy})
    first = indicator_values(market, "TLT", NOW, 101.0, 0.01)  # type: ignore[arg-type]
    assert first == _expected(tlt, spy, 101.0, 0.01)
    assert (first["rsi_14"], first["close"]) == (compute_indicators(tlt, spy).rsi_14, 101.0)
    first["rsi_14"] = -1.0  # a caller's change stays its own
    later = indicator_values(market, "TLT", NOW + timedelta(hours=3), 99.0, -0.02)  # type: ignore[arg-type]
    assert later == _expected(tlt, spy, 99.0, -0.02)
    assert later["rsi_14"] != -1.0 and later is not first


def test_the_next_day_and_another_symbol_get_their_own_numbers() -> None:
    tlt, gld, spy = _bars("TLT", 261), _bars("GLD", 261, drift=0.2), _bars(BENCHMARK, 261, drift=0.3)
    today = _Market({"TLT": tlt[:-1], "GLD": gld[:-1], BENCHMARK: spy[:-1]})
    tomorrow = _Market({"TLT": tlt, "GLD": gld, BENCHMARK: spy})
    assert indicator_values(today, "TLT", NOW, 100.0, 0.0) == _expected(tlt[:-1], spy[:-1], 100.0, 0.0)  # type: ignore[arg-type]
    assert indicator_values(today, "GLD", NOW, 100.0, 0.0) == _expected(gld[:-1], spy[:-1], 100.0, 0.0)  # type: ignore[arg-type]
    next_day = indicator_values(tomorrow, "TLT", NOW + timedelta(days=1), 100.0, 0.0)  # type: ignore[arg-type]
    assert next_day == _expected(tlt, spy, 100.0, 0.0)
    assert next_day["sma_20"] != indicator_values(today, "TLT", NOW, 100.0, 0.0)["sma_20"]  # type: ignore[arg-type]


def test_the_reconciliation_hands_the_valuation_the_order_ids_it_would_have_read(storage: Storage) -> None:
    broker = _traded(storage)
    plan = OrdersPlanned(
        account_id="acct_1",
        broker="paper",
        orders=[_order("TLT", Side.BUY, 100), _order("GLD", Side.BUY, 10)],
        positions_before={},
    )
    storage.events.append([NewEvent.of(plan, stream="week:test:orders", week_id=WEEK, account_id="acct_1")])
    account = broker.account(PRICES)
    observed = observe(broker)
    seen = look(storage.events, broker, account, PRICES, observed=observed)
    assert record_differences(storage.events, "acct_1", seen.differences, occasion="c", week_id=WEEK, run_id="r1") == []
    assert seen.planned == our_order_ids(storage.events, "acct_1")
    assert {_order("TLT", Side.BUY, 100).client_order_id, _order("GLD", Side.BUY, 10).client_order_id} <= seen.planned
    assert seen.managed == look(storage.events, broker, account, PRICES).managed

    desk = Desk(CONFIG.accounts.account("acct_1"), broker)
    value_account(
        storage.events,
        desk,
        account,
        CONFIG,
        occasion="checkpoint",
        week_id=WEEK,
        run_id="r1",
        observed=observed,
        ours=seen.planned,
    )
    recorded = [e.payload["fill"]["symbol"] for e in storage.events.read(type=OrderFilled.event_type())]
    assert recorded == ["TLT"]
    valued = storage.events.read(type=AccountValued.event_type())
    assert [e.payload["equity"] for e in valued] == [account.equity]
