"""Account-level events at Alpaca (trial A, account events), through the real alpaca-py client against the loopback
fake: what Alpaca refuses to short is known to the risk gate before an order is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date

import pytest

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.domain.account_events import AccountHalted
from llmtrade.domain.trading import OrdersPlanned, Side
from llmtrade.errors import BrokerRejected
from llmtrade.pipeline.context import PipelineContext
from llmtrade.risk.controls import breaker_state
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution_stage import ExecutionStage
from llmtrade.workflows.trading_stages import LAST_CLOSES, PLANS, RiskStage
from llmtrade.workflows.trading_stages import PRICES as PRICES_KEY
from llmtrade.workflows.valuation import value_account
from tests.fakes.alpaca_server import FakeAlpacaServer, FakeResponse
from tests.test_alpaca_broker import KEY_ID, SECRET, broker_for, order
from tests.test_reconciliation import ACCOUNT, CONFIG, _context


@pytest.fixture
def server() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as fake:
        fake.set_price("SPY", 500.0)
        fake.set_price("TLT", 90.0)
        fake.add_asset("SPY", shortable=True)
        yield fake


def _short(broker: AlpacaBroker, symbol: str) -> None:
    broker.submit(order(f"w2026-01-07-pm-alpha-{symbol}-open", symbol=symbol, side=Side.SELL, qty=1))


def test_a_hard_to_borrow_or_untradable_asset_is_not_shortable_as_alpaca_refuses_to_short_it(
    server: FakeAlpacaServer,
) -> None:
    """Alpaca opens shorts only in easy-to-borrow assets (a hard-to-borrow one needs a locate), and trades no inactive
    (delisted) or untradable (halted) asset: the gate asked `is_shortable` and was told yes for all three, so the
    order went to Alpaca only to be refused there."""
    server.add_asset("TLT", shortable=True, easy_to_borrow=False)
    server.set_price("GONE", 4.0)
    server.add_asset("GONE", shortable=True, status="inactive")
    server.set_price("HALT", 9.0)
    server.add_asset("HALT", shortable=True, tradable=False)
    broker = broker_for(server)

    assert broker.is_shortable("SPY") is True
    for symbol in ("TLT", "GONE", "HALT"):
        assert broker.is_shortable(symbol) is False, symbol
        with pytest.raises(BrokerRejected, match="HTTP 422"):
            _short(broker, symbol)  # what sending it anyway gets


def test_an_account_alpaca_will_not_let_short_has_nothing_shortable(server: FakeAlpacaServer) -> None:
    """shorting_enabled false (an account under $2,000 equity, or set to no-shorting): Alpaca answers every short
    403 "account is not allowed to short", however easy the asset is to borrow."""
    server.set_account_flags(shorting_enabled=False)
    broker = broker_for(server)

    assert broker.is_shortable("SPY") is False
    with pytest.raises(BrokerRejected, match=r"account is not allowed to short \(HTTP 403\)"):
        _short(broker, "SPY")


W1, W2 = date(2026, 1, 5), date(2026, 1, 12)
PRICES = {"SPY": 100.0, "GLD": 100.0}


def _week(storage: Storage, desk: Desk, week: date, run_id: str) -> OrdersPlanned:
    planned = asyncio.run(
        RiskStage([desk], CONFIG, storage.events, week).run(_context(PRICES, week=week, run_id=run_id))
    )
    plan: OrdersPlanned = planned.get(PLANS)[0]
    executed = PipelineContext(run_id=run_id, week_id=week).with_values(
        (PLANS, [plan]), (PRICES_KEY, PRICES), (LAST_CLOSES, {})
    )
    asyncio.run(ExecutionStage([desk], storage.events, week, CONFIG, dry_run=False).run(executed))
    return plan


@pytest.mark.parametrize("balance", [25_000.0, 1_000_000.0])
def test_a_paper_account_reset_between_two_weeks_is_recorded_once_and_neither_halts_nor_sets_the_peak(
    storage: Storage, balance: float
) -> None:
    """Week 1 buys 200 SPY on 100,000; the user resets the paper account from Alpaca's dashboard (positions and order
    history gone, a new balance). Before, the next week's valuation took 25,000 for a 75% drawdown and halted the
    account (its week-2 order never sent), and nothing said the account had been reset."""
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as alpaca:
        for symbol, price in PRICES.items():
            alpaca.set_price(symbol, price)
        desk = Desk(ACCOUNT, AlpacaBroker("acct_1", KEY_ID, SECRET, url_override=alpaca.base_url, timeout_seconds=2.0))
        assert [o.qty for o in _week(storage, desk, W1, "r1").orders] == [200]

        alpaca.reset_paper_account(balance)
        plan = _week(storage, desk, W2, "r2")

        assert [(o.symbol, o.qty) for o in plan.orders] == [("SPY", int(balance * 0.2 / 100))]  # sized on the new books
        assert storage.events.read(type=AccountHalted.event_type()) == []
        state, _ = breaker_state(storage.events, "acct_1", 100_000.0)
        assert not state.halted and state.peak_equity == pytest.approx(balance)
        [reset] = [e.payload for e in storage.events.read(type="BrokerAccountReset")]
        assert (reset["equity"], reset["last_equity"]) == (pytest.approx(balance), pytest.approx(100_000.0))
        assert reset["missing"] == ["lt-20260105-acct_1-SPY-open"]  # week 1's buy, gone from Alpaca
        assert "paper account reset" in state.reason

        # Looked at again (a checkpoint's valuation): the same reset, not recorded twice.
        value_account(
            storage.events, desk, desk.broker.account(PRICES), CONFIG, occasion="checkpoint", week_id=W2, run_id="r3"
        )
        assert len(storage.events.read(type="BrokerAccountReset")) == 1


def test_an_order_refused_for_the_account_says_what_the_account_is_and_what_to_do(server: FakeAlpacaServer) -> None:
    """Alpaca's 403 names its rule, not the account's state: before, the user read only "account is not authorized
    to trade" or "trade denied due to pattern day trading protection" and "a rerun retries it"."""
    broker = broker_for(server)
    server.set_account_flags(trading_blocked=True, status="ACCOUNT_UPDATED")
    with pytest.raises(BrokerRejected) as blocked:
        broker.submit(order("w2026-01-07-pm-alpha-SPY-open", qty=1))
    assert "account is not authorized to trade (HTTP 403)" in str(blocked.value)
    assert "status ACCOUNT_UPDATED, trading_blocked true" in str(blocked.value)
    assert "Alpaca's dashboard" in str(blocked.value)

    server.set_account_flags(trading_blocked=False, status="ACTIVE", daytrade_count=3)
    server.set_account(cash=20_000.0)
    server.set_position("SPY", 10, 500.0)  # 25,000 in all with the cash: under it once SPY is below 500
    server.set_price("SPY", 400.0)
    with pytest.raises(BrokerRejected) as pdt:
        broker.submit(order("w2026-01-07-pm-alpha-SPY-close", side=Side.SELL, qty=10))
    assert "pattern day trading protection (HTTP 403)" in str(pdt.value)
    assert "equity 24,000.00" in str(pdt.value) and "3 day trade(s)" in str(pdt.value)

    server.set_account_flags(daytrade_count=0)
    server.set_account(cash=1_000.0)
    with pytest.raises(BrokerRejected) as poor:
        broker.submit(order("w2026-01-07-pm-alpha-SPY-add", qty=100))
    assert (
        "insufficient buying power (HTTP 403); Alpaca valued this order at 40,000.00 against buying power of 1,000.00"
        in str(poor.value)
    )


def test_alpacas_bare_forbidden_with_its_period_is_read_as_bad_keys(server: FakeAlpacaServer) -> None:
    """Alpaca answers keys it does not take with 403 {"message": "forbidden."}: before, the period hid the hint to
    check the account's keys."""
    server.route("GET", r"/v2/account", lambda _: FakeResponse(403, {"message": "forbidden."}), first=True)
    with pytest.raises(BrokerRejected, match=r"forbidden\. \(HTTP 403\); check the account's keys"):
        broker_for(server).account({})


def test_a_halt_the_account_held_is_lifted_by_a_reset_saying_why(storage: Storage) -> None:
    """Halted for a 30% drawdown at Alpaca, then reset from the dashboard: the halt measured books that are gone."""
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET, fill_immediately=True) as alpaca:
        for symbol, price in PRICES.items():
            alpaca.set_price(symbol, price)
        desk = Desk(ACCOUNT, AlpacaBroker("acct_1", KEY_ID, SECRET, url_override=alpaca.base_url, timeout_seconds=2.0))
        _week(storage, desk, W1, "r1")

        def valued(run_id: str) -> None:
            account = desk.broker.account(PRICES)
            value_account(storage.events, desk, account, CONFIG, occasion=run_id, week_id=W1, run_id=run_id)

        alpaca.set_account(equity=70_000.0)
        valued("c1")
        assert breaker_state(storage.events, "acct_1", 100_000.0)[0].halted

        alpaca.reset_paper_account(50_000.0)
        valued("c2")
        state, _ = breaker_state(storage.events, "acct_1", 100_000.0)
        assert not state.halted and state.peak_equity == pytest.approx(50_000.0)
        [resumed] = storage.events.read(type="AccountResumed")
        assert "began again at 50,000.00 from 70,000.00 (a paper account reset" in resumed.payload["reason"]
