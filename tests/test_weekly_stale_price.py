"""The weekly run's risk gate reads how old each pitched symbol's close in the snapshot is: a quiet symbol (no trade of
it on its feed: a thin name on IEX, a halt) is priced at a close up to 10 sessions old (market/untraded.py QUIET_TAIL),
and an open sized off one older than risk/stale.py STALE_AFTER is refused, said in RiskChecked; one of the last
session is sized as before. The paper broker, the risk stage's context of tests/test_reconciliation.py."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

from llmtrade.brokers.paper import PaperBroker
from llmtrade.domain.market import IndicatorSet
from llmtrade.domain.research import MarketSnapshot
from llmtrade.domain.trading import RiskChecked
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.research_stages import SNAPSHOT
from llmtrade.workflows.trading_stages import RiskStage
from tests.test_reconciliation import CONFIG, _context
from tests.test_weekly_shortable_unanswered import _Clock, _Opens

WEEK = date(2026, 1, 5)
CALENDAR = TradingCalendar()


def _desk(storage: Storage) -> Desk:
    paper = PaperBroker(
        "acct_1",
        starting_cash=100_000.0,
        events=storage.events,
        clock=_Clock(),  # type: ignore[arg-type]
        calendar=CALENDAR,
        prices=_Opens(),  # type: ignore[arg-type]
        slippage_bps=5,
    )
    return Desk(CONFIG.accounts.account("acct_1"), paper)


def _plan(storage: Storage, spy_day: date, run_id: str) -> RiskChecked:
    """acct_1's verdict on the pitch of SPY LONG 2, SPY's close in the snapshot being of `spy_day`."""
    context = _context({"SPY": 100.0, "GLD": 100.0}, week=WEEK, run_id=run_id)
    snapshot: MarketSnapshot = context.get(SNAPSHOT)
    indicators = dict(snapshot.indicators)
    indicators["SPY"] = IndicatorSet.model_construct(symbol="SPY", close=100.0, asof_day=spy_day)
    quiet = MarketSnapshot.model_construct(
        asof=datetime(2026, 1, 5, 8, tzinfo=UTC), session=snapshot.session, indicators=indicators
    )
    asyncio.run(RiskStage([_desk(storage)], CONFIG, storage.events, WEEK).run(context.with_values((SNAPSHOT, quiet))))
    return RiskChecked.from_event(storage.events.read(type="RiskChecked")[-1])


def test_a_pitch_of_a_symbol_not_traded_for_sessions_opens_nothing_and_the_verdict_says_why(storage: Storage) -> None:
    old = CALENDAR.sessions_between(date(2025, 12, 22), WEEK)[-4]  # 3 sessions before the snapshot's last
    checked = _plan(storage, old, "run-1").verdict
    assert not checked.approved and checked.target_qty == 0
    assert checked.reason.startswith("stale_price:") and f"is of {old}, 3 sessions before" in checked.reason


def test_a_close_of_the_last_session_or_two_sessions_old_is_sized_as_before(storage: Storage) -> None:
    fresh = _plan(storage, WEEK, "run-1").verdict
    assert fresh.approved and fresh.target_qty > 0
    recent = CALENDAR.sessions_between(date(2025, 12, 22), WEEK)[-3]
    assert _plan(storage, recent, "run-2").verdict.target_qty == fresh.target_qty
