"""A run's ids leave the log context when it ends, even when its end (or its start) cannot be recorded."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import date
from types import SimpleNamespace

import pytest

from llmtrade.app.runs import RunLog, start_run
from llmtrade.domain.tracing import _context, log_context
from llmtrade.errors import TemporaryError
from llmtrade.llm.records import UsageTotals
from tests.fakes.sinks import ListSink


class GoneDatabase(ListSink):
    """An event sink whose database went away: every append fails, as psycopg's would."""

    def append(self, events: Sequence[object]) -> list[object]:
        raise TemporaryError("connection to the database was lost")


class GoneConnection:
    """The same database's connection: every statement fails (the run's lease cannot be taken either)."""

    def execute(self, *args: object) -> object:
        raise TemporaryError("connection to the database was lost")


@pytest.fixture(autouse=True)
def fresh_context() -> Iterator[None]:
    """Each test in a context of its own, so one test's leak cannot hide in the next one's `before`."""
    token = _context.set({})
    yield
    _context.reset(token)


@pytest.mark.parametrize("end", ["finished", "failed"])
def test_a_run_whose_end_cannot_be_recorded_still_leaves_the_log_context(end: str) -> None:
    before = dict(log_context())
    run = RunLog(GoneDatabase(), run_id="run-gone", command="run-weekly", week_id=date(2026, 1, 7))
    assert log_context()["run_id"] == "run-gone" and log_context()["week"] == "2026-01-07"
    with pytest.raises(TemporaryError):
        if end == "finished":
            run.finished(UsageTotals(), degraded=False)
        else:
            run.failed(RuntimeError("the stage failed"))
    assert dict(log_context()) == before


def test_a_run_that_cannot_record_its_start_leaves_no_ids_behind() -> None:
    before = dict(log_context())
    session = SimpleNamespace(
        storage=SimpleNamespace(events=GoneDatabase(), conn=GoneConnection()),
        decision=SimpleNamespace(mode=SimpleNamespace(value="offline"), reason="--offline given"),
        loaded=SimpleNamespace(source="packaged defaults"),
        timer=time.perf_counter,
    )
    with pytest.raises(TemporaryError):
        start_run(session, run_id="run-never", command="run-weekly", arguments={}, week_id=date(2026, 1, 7))  # type: ignore[arg-type]
    assert dict(log_context()) == before
