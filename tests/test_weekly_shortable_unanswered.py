"""The weekly run asks a SHORT intent's broker whether it may short (`is_shortable`, inside the risk gate's plan): a
broker that did not answer that one question (Alpaca's asset endpoint down, its rate limit used up between the look and
it) stopped the whole run (BrokerUnavailable, exit 75), where a broker failing the account's look holds that account
alone. It holds it alone the same way now: AccountWeekHeld, nothing planned or sent for it, the other accounts planned;
the next run of the week asks again. Through the real alpaca-py client against the loopback fake, beside a paper
account."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.paper import PaperBroker
from llmtrade.domain.account_events import AccountWeekHeld
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.committee import Pitch
from llmtrade.domain.trading import OrdersPlanned
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.committee_stages import PITCHES
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.trading_stages import HELD, PLANS, RiskStage
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_broker import KEY_ID, SECRET
from tests.test_reconciliation import CONFIG, _context

WEEK = date(2026, 1, 5)
PRICES = {"SPY": 100.0, "GLD": 100.0}


class _Clock:
    real = False  # a chosen instant (Clock.real)

    def now(self) -> datetime:
        return datetime(2026, 1, 5, 13, 0, tzinfo=UTC)


class _Opens:
    def opening_price(self, symbol: str, day: date) -> float | None:
        return PRICES.get(symbol)


def _pitch(account_id: str, symbol: str, direction: str, conviction: int) -> Pitch:
    return Pitch.model_construct(
        account_id=account_id, instrument=symbol, direction=direction, conviction=conviction, idea_id=account_id
    )


def short_and_paper(storage: Storage, alpaca: FakeAlpacaServer) -> list[Desk]:
    """acct_1 on Alpaca (the loopback fake), acct_2 on the paper broker."""
    short = Desk(
        CONFIG.accounts.account("acct_1"),
        AlpacaBroker("acct_1", KEY_ID, SECRET, url_override=alpaca.base_url, timeout_seconds=2.0),
    )
    paper = PaperBroker(
        "acct_2",
        starting_cash=100_000.0,
        events=storage.events,
        clock=_Clock(),  # type: ignore[arg-type]
        calendar=TradingCalendar(),
        prices=_Opens(),  # type: ignore[arg-type]
        slippage_bps=5,
    )
    return [short, Desk(CONFIG.accounts.account("acct_2"), paper)]


def _plan(storage: Storage, desks: list[Desk], run_id: str) -> tuple[list[OrdersPlanned], list[str]]:
    pitches = [_pitch("acct_1", "SPY", "SHORT", -2), _pitch("acct_2", "GLD", "LONG", 2)]
    context = _context(PRICES, week=WEEK, run_id=run_id).with_values((PITCHES, pitches))
    done = asyncio.run(RiskStage(desks, CONFIG, storage.events, WEEK).run(context))
    return done.get(PLANS), done.get(HELD)


def test_a_broker_that_does_not_answer_whether_it_may_short_holds_that_account_alone(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as alpaca:
        for symbol, price in PRICES.items():
            alpaca.set_price(symbol, price)
        alpaca.add_asset("SPY", shortable=True)
        alpaca.fail_route("GET", r"/v2/assets/.*", 503, times=50)  # the asset endpoint down; the look answers
        short, long = short_and_paper(storage, alpaca)

        plans, held = _plan(storage, [short, long], "run-1")

        assert [p.account_id for p in plans] == ["acct_2"]  # the paper account trades its week
        [record] = [AccountWeekHeld.from_event(e) for e in storage.events.read(type=AccountWeekHeld.event_type())]
        assert record.account_id == "acct_1" and record.orders == []
        [said] = held
        assert "account acct_1 is held back this week: its broker did not answer" in said, said
        assert "HTTP 503" in said and "whether it may short SPY is not known" in said, said
        assert alpaca.count("POST", "/v2/orders") == 0
        # Nothing of it recorded (asked before the look that values it), as an account whose look failed: a week-start
        # valuation would give a week never planned a postmortem row, scored as if it had traded.
        valued = [e.payload["account_id"] for e in storage.events.read(type=AccountValued.event_type())]
        assert "acct_1" not in valued and "acct_2" in valued

        alpaca.reset()  # the asset endpoint answers again: the week's next run plans it
        plans, held = _plan(storage, [short, long], "run-2")
        assert sorted(p.account_id for p in plans) == ["acct_1", "acct_2"] and held == []
        [mine] = [p for p in plans if p.account_id == "acct_1"]
        assert [(o.symbol, o.side.value) for o in mine.orders] == [("SPY", "sell")]
