"""What a checkpoint's look at an account reuses from the last one (the paper book's ledger until a fill is recorded,
the latest checkpoint's conviction from its payload): always what a fresh read gives, never another account's,
another week's or a state from before the last fill."""

from __future__ import annotations

from datetime import date, timedelta

from llmtrade.brokers.fills import record_new_fills
from llmtrade.brokers.paper import PaperBroker
from llmtrade.clock import FixedClock
from llmtrade.domain.checkpoints import Checkpoint, CheckpointTaken
from llmtrade.domain.events import NewEvent
from llmtrade.domain.ledger import fold
from llmtrade.domain.streams import checkpoint_stream
from llmtrade.domain.trading import Side
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.checkpoint_prepare import conviction_now
from llmtrade.workflows.frozen_trade import FrozenTrade
from tests.test_paper_broker import DURING, WEEK, Opens, _broker, _order

PRICES = {"SPY": 510.0, "TLT": 88.0}


def test_each_look_at_the_book_is_what_a_fold_of_every_fill_gives(storage: Storage) -> None:
    opens = Opens({("SPY", WEEK): 500.0, ("TLT", WEEK): 90.0})
    broker = _broker(storage, FixedClock(DURING), opens, slippage_bps=0, commission_per_order=1.0)
    for order in (_order("SPY", Side.BUY, 10), _order("TLT", Side.SELL, 20), _order("SPY", Side.SELL, 4, "reduce")):
        broker.submit(order)
        for _ in range(2):  # the second look reuses the first's ledger
            account = broker.account(PRICES)
            ledger = fold(broker.fills(), 100_000.0)
            assert (account.cash, account.positions) == (round(ledger.cash, 2), ledger.positions)
            account.positions.clear()  # a caller's change stays its own
    record_new_fills(storage.events, broker, week_id=WEEK, run_id="r1")
    assert broker.account(PRICES).positions == fold(broker.fills(), 100_000.0).positions
    # Another account of the same starting cash: its own, empty book.
    alike = {"starting_cash": 100_000.0, "events": storage.events, "calendar": TradingCalendar(), "prices": opens}
    other = PaperBroker("acct_2", clock=FixedClock(DURING), **alike)  # type: ignore[arg-type]
    assert other.account(PRICES).positions == {} and other.account(PRICES).cash == 100_000.0


def _taken(storage: Storage, week: date, day: date, time: str, before: int, after: int) -> None:
    checkpoint = Checkpoint(
        checkpoint_id=f"{week}:{day}T{time}:acct_1",
        week_id=week,
        day=day,
        time=time,
        account_id="acct_1",
        instrument="SPY",
        conviction_before=before,
        conviction_after=after,
        action="REDUCE" if abs(after) < abs(before) else "STAY",
        reason_delta="x",
        indicators_snapshot={"rsi_14": 55.0, "pnl_pct": None},
        invalidation_triggered=False,
        decided_by="owner",
    )
    stream = checkpoint_stream(week, day, time, "acct_1")
    payload = CheckpointTaken(checkpoint=checkpoint)
    storage.events.append([NewEvent.of(payload, stream=stream, week_id=week, account_id="acct_1")])


def test_the_conviction_now_is_the_latest_checkpoints_of_the_week_else_wednesdays(storage: Storage) -> None:
    frozen = FrozenTrade("SPY", "LONG", 2, [], [], None, None)  # type: ignore[arg-type]  # only its conviction is read
    events = storage.events
    assert conviction_now(events, WEEK, "acct_1", frozen) == 2
    _taken(storage, WEEK, WEEK, "12:00", 2, 1)
    assert conviction_now(events, WEEK, "acct_1", frozen) == 1
    _taken(storage, WEEK, WEEK, "14:00", 1, -1)
    assert conviction_now(events, WEEK, "acct_1", frozen) == -1
    found = events.read(week_id=WEEK, account_id="acct_1", type=CheckpointTaken.event_type())
    assert CheckpointTaken.from_event(found[-1]).checkpoint.conviction_after == -1
    assert conviction_now(events, WEEK + timedelta(days=7), "acct_1", frozen) == 2  # next week: Wednesday's again
    assert conviction_now(events, WEEK, "acct_2", frozen) == 2  # another account's checkpoints are not its
