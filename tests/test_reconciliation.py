"""Reconciliation: the broker's account against llmtrade's records; only what llmtrade opened is managed.

The issue's report, each a test here: a position placed by hand at the broker was sold by the week's
roll without a word, another was adopted and resized, both were counted in sizing, and `status`
credited the PM with a +15% return it never made. Against the fake Alpaca through alpaca-py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.reconcile import look
from llmtrade.brokers.reconcile_records import reconcile_account
from llmtrade.config.loader import load_config
from llmtrade.domain.committee import Decision, Pitch
from llmtrade.domain.market import IndicatorSet
from llmtrade.domain.reconciliation import (
    LedgerView,
    PositionAdopted,
    PositionReleased,
    ReconciliationDifferenceFound,
    ledger_view,
    managed_view,
    reconcile,
)
from llmtrade.domain.research import MarketSnapshot
from llmtrade.domain.trading import (
    AccountSnapshot,
    BrokerOrder,
    Fill,
    OrdersPlanned,
    OrderStatus,
    Position,
    RiskChecked,
    Side,
    TradeIntent,
)
from llmtrade.pipeline.context import PipelineContext
from llmtrade.risk import gate
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.committee_stages import DECISION, FAILED_PMS, PITCHES
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution_stage import ExecutionStage
from llmtrade.workflows.research_stages import SNAPSHOT
from llmtrade.workflows.trading_stages import LAST_CLOSES, PLANS, PREPARED, PRICES, QUEUED, READY, UNSOLD, RiskStage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.fakes.by_hand import trade_by_hand

KEY_ID, SECRET = "test-key-id", "test-secret"
WEEK = date(2026, 1, 5)
NOW = datetime(2026, 1, 7, 13, tzinfo=UTC)
CONFIG = load_config(None).config
ACCOUNT = CONFIG.accounts.account("acct_1")
AT = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def _fill(client_order_id: str, symbol: str, side: Side, qty: int, price: float = 100.0) -> Fill:
    return Fill(
        client_order_id=client_order_id,
        account_id="acct_1",
        symbol=symbol,
        side=side,
        qty=qty,
        price=price,
        filled_at=AT,
    )


def _pos(symbol: str, qty: int, avg: float = 100.0) -> Position:
    return Position(symbol=symbol, qty=qty, avg_price=avg)


# ---------------------------------------------------------------- the pure function


def test_every_kind_of_difference_is_found_and_matching_books_have_none() -> None:
    fills = [
        _fill("lt-20260105-acct_1-SPY-open", "SPY", Side.BUY, 10),
        _fill("lt-20260105-acct_1-TLT-open", "TLT", Side.BUY, 5),
        _fill("web-1", "GLD", Side.BUY, 7),  # made by hand
    ]
    ledger = ledger_view(fills, planned=())
    positions = {"SPY": _pos("SPY", 12), "GLD": _pos("GLD", 7)}  # 2 SPY added by hand; TLT sold by hand
    orders = [
        BrokerOrder(client_order_id="web-2", symbol="IWM", side=Side.SELL, qty=3, status=OrderStatus.ACCEPTED),
        BrokerOrder(
            client_order_id="lt-20260105-acct_1-QQQ-open",
            symbol="QQQ",
            side=Side.BUY,
            qty=10,
            status=OrderStatus.ACCEPTED,
            filled_qty=4,
        ),
    ]

    found = {(d.kind, d.symbol): d for d in reconcile(positions, orders, fills, ledger)}

    assert set(found) == {
        ("unmanaged_position", "GLD"),
        ("quantity_mismatch", "SPY"),
        ("position_missing", "TLT"),
        ("unknown_order", "IWM"),
        ("partial_fill", "QQQ"),
        ("unknown_fill", "GLD"),
    }
    assert (found["quantity_mismatch", "SPY"].broker_qty, found["quantity_mismatch", "SPY"].ledger_qty) == (12, 10)
    partial = found["partial_fill", "QQQ"]
    assert (partial.filled_qty, partial.remaining_qty) == (4, 6)  # tracked: filled and still to fill
    assert found["unknown_fill", "GLD"].client_order_id == "web-1"
    mine = [f for f in fills if f.client_order_id != "web-1"]
    assert reconcile({"SPY": _pos("SPY", 10), "TLT": _pos("TLT", 5)}, [], mine, ledger_view(mine, ())) == []


def test_a_difference_keeps_its_key_until_it_changes() -> None:
    ledger = LedgerView()
    once = reconcile({"GLD": _pos("GLD", 7)}, [], [], ledger)
    again = reconcile({"GLD": _pos("GLD", 7)}, [], [], ledger)
    grown = reconcile({"GLD": _pos("GLD", 9)}, [], [], ledger)
    assert once[0].key() == again[0].key()
    assert grown[0].key() != once[0].key()


def test_adopted_shares_are_managed_and_released_ones_are_not() -> None:
    adopted = PositionAdopted(account_id="acct_1", symbol="GLD", qty=7, avg_price=100.0, price=130.0)
    ledger = ledger_view([], (), [adopted])
    assert reconcile({"GLD": _pos("GLD", 7)}, [], [], ledger) == []
    account = AccountSnapshot(
        account_id="acct_1", cash=99_300.0, equity=100_350.0, buying_power=0.0, positions={"GLD": _pos("GLD", 7)}
    )
    # Adopted at 130 after costing 100: the 210 made before adoption is not the PM's; the 105 since is.
    view = managed_view(account, ledger, {"GLD": 150.0})
    assert (view.positions["GLD"].qty, view.equity) == (7, 100_140.0)
    released = PositionReleased(account_id="acct_1", symbol="GLD", qty=7)
    after = ledger_view([], (), [adopted, released])
    assert [d.kind for d in reconcile({"GLD": _pos("GLD", 7)}, [], [], after)] == ["unmanaged_position"]
    assert managed_view(account, after, {"GLD": 150.0}).equity == 100_000.0


def test_the_managed_view_leaves_out_a_hand_made_position_and_its_gain() -> None:
    # 100,000 start; 15,000 of GLD bought by hand at 100, now at 200: the broker says 115,000.
    account = AccountSnapshot(
        account_id="acct_1",
        cash=85_000.0,
        equity=115_000.0,
        buying_power=85_000.0,
        positions={"GLD": _pos("GLD", 150)},
    )
    view = managed_view(account, LedgerView(), {"GLD": 200.0})
    assert view.positions == {}
    assert view.equity == 100_000.0  # the PM made nothing
    assert view.cash == 85_000.0  # the money spent by hand is not there to spend


# ---------------------------------------------------------------- against the fake Alpaca


@pytest.fixture
def alpaca() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as server:
        for symbol in ("SPY", "GLD"):
            server.set_price(symbol, 100.0)
        yield server


def _broker(server: FakeAlpacaServer) -> AlpacaBroker:
    return AlpacaBroker("acct_1", KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2.0)


def _context(prices: dict[str, float], week: date = WEEK, run_id: str = "run-1", **snapshot: Any) -> PipelineContext:
    """A weekly run's context from its risk stage on: `prices` as the snapshot's closes (`snapshot`: more fields of
    it; taken at 08:00 UTC on the week's Monday unless given), a pitch of SPY LONG for acct_1."""
    snapshot = {"asof": datetime(week.year, week.month, week.day, 8, tzinfo=UTC), "session": week, **snapshot}
    # Each close of the snapshot's session, as a real snapshot's are (the risk gate reads their day: risk/stale.py).
    day = snapshot["session"]
    indicators = {s: IndicatorSet.model_construct(symbol=s, close=p, asof_day=day) for s, p in prices.items()}
    pitch = Pitch.model_construct(account_id="acct_1", instrument="SPY", direction="LONG", conviction=2, idea_id="i1")
    return PipelineContext(run_id=run_id, week_id=week).with_values(
        (SNAPSHOT, MarketSnapshot.model_construct(indicators=indicators, **snapshot)),
        (PITCHES, [pitch]),
        (FAILED_PMS, []),
        (DECISION, Decision.model_construct()),
        (PREPARED, {}),
        (READY, {}),
        (QUEUED, []),
        (UNSOLD, []),
    )


def test_hand_made_positions_are_reported_left_alone_and_not_counted_in_sizing(
    storage: Storage, alpaca: FakeAlpacaServer
) -> None:
    hand_gld = trade_by_hand(alpaca, "GLD", 150)  # 15,000 of the account's cash, by hand
    trade_by_hand(alpaca, "SPY", 10)  # and 10 SPY, the very instrument the PM will pitch
    alpaca.set_price("GLD", 200.0)  # the hand-made GLD is up 15,000: +15% on the account
    prices = {"SPY": 100.0, "GLD": 200.0}
    broker = _broker(alpaca)
    desk = Desk(ACCOUNT, broker)

    planned = asyncio.run(RiskStage([desk], CONFIG, storage.events, WEEK).run(_context(prices)))

    plan: OrdersPlanned = planned.get(PLANS)[0]
    # Not sold by the roll, not "resized": the PM opens its own SPY next to the hand-made 10.
    assert [(o.symbol, o.intent) for o in plan.orders] == [("SPY", "open")]
    assert plan.positions_before == {}
    verdict = RiskChecked.from_event(storage.events.read(type="RiskChecked")[0]).verdict
    intent = TradeIntent(account_id="acct_1", instrument="SPY", direction="LONG", conviction=2, source="pitch:i1")

    def sized(equity: float) -> int:
        account = AccountSnapshot(
            account_id="acct_1", cash=83_000.0, equity=equity, buying_power=83_000.0, positions={}
        )
        checked = gate.check(intent, account, 100.0, assets=CONFIG.assets, risk=CONFIG.risk, prices=prices)
        return checked.target_qty

    assert sized(116_000.0) != sized(100_000.0)  # the test would see it if sizing counted the hand-made gain
    assert verdict.target_qty == sized(100_000.0)  # sized from the PM's own 100,000 only
    kinds = {(e.payload["difference"]["kind"], e.payload["difference"]["symbol"]) for e in _found(storage)}
    assert kinds == {
        ("unmanaged_position", "GLD"),
        ("unmanaged_position", "SPY"),
        ("unknown_fill", "GLD"),
        ("unknown_fill", "SPY"),
    }
    assert any(e.payload["difference"]["client_order_id"] == hand_gld for e in _found(storage))

    executed = PipelineContext(run_id="run-1", week_id=WEEK).with_values(
        (PLANS, [plan]), (PRICES, prices), (LAST_CLOSES, {})
    )
    asyncio.run(ExecutionStage([desk], storage.events, WEEK, CONFIG, dry_run=False).run(executed))

    held = broker.account(prices).positions
    assert held["GLD"].qty == 150  # left alone
    assert held["SPY"].qty == 10 + verdict.target_qty  # the hand-made 10 are still there beside the PM's
    seen = look(storage.events, broker, broker.account(prices), prices)
    assert seen.managed.positions["SPY"].qty == verdict.target_qty
    assert "GLD" not in seen.managed.positions
    # The PM's equity: its 100,000 start, not the broker's 115,000+ (slippage-free fake: exactly).
    assert seen.managed.equity == pytest.approx(100_000.0, abs=0.01)
    valued = [e.payload["equity"] for e in storage.events.read(type="AccountValued")]
    assert valued and all(v == pytest.approx(100_000.0, abs=0.01) for v in valued)


def _found(storage: Storage) -> list[Any]:
    return storage.events.read(type=ReconciliationDifferenceFound.event_type())


def test_each_difference_is_recorded_once_and_a_look_writes_nothing(storage: Storage, alpaca: FakeAlpacaServer) -> None:
    trade_by_hand(alpaca, "GLD", 5)
    broker = _broker(alpaca)
    prices = {"GLD": 100.0}
    before = storage.events.read()

    look(storage.events, broker, broker.account(prices), prices)
    assert storage.events.read() == before  # a read: status and dry runs write nothing

    for occasion in ("week start", "checkpoint 2026-01-06 12:00", "checkpoint 2026-01-06 12:00"):
        reconcile_account(
            storage.events, broker, broker.account(prices), prices, occasion=occasion, week_id=WEEK, run_id="r", now=NOW
        )
    assert sorted(e.payload["difference"]["kind"] for e in _found(storage)) == ["unknown_fill", "unmanaged_position"]
    assert {e.payload["occasion"] for e in _found(storage)} == {"week start"}  # first seen there, not again

    trade_by_hand(alpaca, "GLD", 3)  # the hand-made position grows: a new difference
    reconcile_account(
        storage.events, broker, broker.account(prices), prices, occasion="x", week_id=WEEK, run_id="r", now=NOW
    )
    grown = [
        e.payload["difference"] for e in _found(storage) if e.payload["difference"]["kind"] == "unmanaged_position"
    ]
    assert sorted(d["broker_qty"] for d in grown) == [5, 8]


def test_a_partial_fill_of_our_order_is_tracked_with_filled_and_remaining(
    storage: Storage, alpaca: FakeAlpacaServer
) -> None:
    alpaca.fill_immediately = False
    broker = _broker(alpaca)
    from llmtrade.domain.trading import Order

    order = Order(
        client_order_id="lt-20260105-acct_1-SPY-open",
        account_id="acct_1",
        week_id=WEEK,
        symbol="SPY",
        side=Side.BUY,
        qty=10,
        intent="open",
    )
    broker.submit(order)
    alpaca.partially_fill(order.client_order_id, 4, 100.0)
    prices = {"SPY": 100.0}

    reconcile_account(
        storage.events, broker, broker.account(prices), prices, occasion="o", week_id=WEEK, run_id="r", now=NOW
    )

    [found] = [e.payload["difference"] for e in _found(storage)]
    assert (found["kind"], found["filled_qty"], found["remaining_qty"]) == ("partial_fill", 4, 6)
    seen = look(storage.events, broker, broker.account(prices), prices)
    assert seen.managed.positions["SPY"].qty == 4  # the filled part is ours, and managed


def test_an_order_left_open_by_hand_is_reported_and_does_not_hold_up_the_week(
    storage: Storage, alpaca: FakeAlpacaServer
) -> None:
    alpaca.fill_immediately = False  # the market is closed: the hand-made order waits for the open
    hand = trade_by_hand(alpaca, "GLD", 20)
    desk = Desk(ACCOUNT, _broker(alpaca))

    planned = asyncio.run(RiskStage([desk], CONFIG, storage.events, WEEK).run(_context({"SPY": 100.0, "GLD": 100.0})))

    assert [(o.symbol, o.intent) for o in planned.get(PLANS)[0].orders] == [("SPY", "open")]
    [found] = [e.payload["difference"] for e in _found(storage)]
    assert (found["kind"], found["client_order_id"], found["remaining_qty"]) == ("unknown_order", hand, 20)
