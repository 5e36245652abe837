"""Which wait of a checkpoint is one an earlier wake-up said already (workflows/checkpoint_close.py `wait_repeated`),
over its runs and deferrals as stored, on a real PostgreSQL. Under -q a repeated wait is not mailed (app/due_waits.py),
so a new problem taken for a repeat is never told: the same account at the same stage waiting for another symbol, or
for the same symbol for another reason, used to be taken for the wait already said."""

from __future__ import annotations

from llmtrade.domain.events import NewEvent, StageDeferred
from llmtrade.domain.runs import RunStarted
from llmtrade.domain.streams import held_stream, run_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.market.calendar import new_york_date
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.checkpoint_close import wait_repeated
from llmtrade.workflows.checkpoint_slot import Slot
from tests.support import FIXED_NOW

DAY = new_york_date(FIXED_NOW)
WEEK = week_id_for(DAY)
SLOT = Slot(DAY, "12:00")


def _deferred(storage: Storage, run_id: str, *errors: str) -> None:
    """One run of the 12:00 checkpoint that deferred acct_1 at the prepare stage, for `errors`."""
    started = RunStarted(
        command="checkpoint",
        arguments={"time": "12:00", "week": None, "dry_run": False},
        mode="live",
        mode_reason="test",
        config_source="test",
        version="test",
    )
    waited = StageDeferred(stage="prepare", waiting=["acct_1"], errors=list(errors), deadline=None)
    storage.events.append(
        [
            NewEvent.of(started, stream=run_stream(run_id), week_id=WEEK, run_id=run_id),
            NewEvent.of(waited, stream=held_stream(SLOT.stream(WEEK)), week_id=WEEK, run_id=run_id),
        ]
    )


def _stale(symbol: str, at: str, age: str = "3 min") -> str:
    return f"acct_1: {symbol} (no current price at {at}: csv: quote of {symbol} at 11:58:00 is {age} old)"


def test_the_same_symbol_waiting_for_the_same_reason_is_repeated_whatever_the_figures(storage: Storage) -> None:
    _deferred(storage, "r1", _stale("SPY", "12:01:00"))
    _deferred(storage, "r2", _stale("SPY", "12:06:00", "1.2 h"))
    assert wait_repeated(storage.events, SLOT, WEEK)


def test_another_symbol_of_the_same_account_at_the_same_stage_is_a_new_wait(storage: Storage) -> None:
    _deferred(storage, "r1", _stale("SPY", "12:01:00"))
    _deferred(storage, "r2", _stale("QQQ", "12:06:00"))
    assert not wait_repeated(storage.events, SLOT, WEEK)


def test_the_same_symbol_refused_for_another_reason_is_a_new_wait(storage: Storage) -> None:
    _deferred(storage, "r1", _stale("SPY", "12:01:00"))
    _deferred(storage, "r2", "acct_1: SPY (no current price at 12:06:00: csv: 216.0 is at 0.5x the last close 432.0)")
    assert not wait_repeated(storage.events, SLOT, WEEK)
