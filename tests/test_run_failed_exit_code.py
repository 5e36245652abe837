"""A failed run records the exit its command gave (RunFailed.exit_code), so what reads the runs back agrees with the
exit: a run stopped by SIGTERM whose way out raised a database error (a psycopg pipeline left busy) exited 143, but
was recorded by its error type alone, and the line that says a weekly run's wait is over counted it as a failed
attempt. On a real PostgreSQL, through RunLog, as the jobs record their runs."""

from __future__ import annotations

import psycopg

from llmtrade.app.due_waits import run_waited
from llmtrade.app.runs import RunLog
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import RunFailed
from llmtrade.domain.streams import run_stream
from llmtrade.errors import LLMUnavailable
from llmtrade.stops import Terminated
from llmtrade.storage.bootstrap import Storage
from tests.support import FIXED_NOW

WEEK = FIXED_NOW.date()


def _run(storage: Storage, run_id: str, error: BaseException | None) -> None:
    run = RunLog(storage.events, run_id=run_id, command="run-weekly", week_id=WEEK)
    run.started(arguments={}, mode="live", mode_reason="test", config_source="test")
    if error is None:
        return  # still running, or finished: no RunFailed
    run.failed(error)


def _stop_whose_way_out_lost_the_database() -> BaseException:
    try:
        try:
            raise Terminated
        except Terminated:
            raise psycopg.OperationalError("cannot exit pipeline mode while busy") from None
    except psycopg.OperationalError as exc:
        return exc


def _failures(storage: Storage) -> dict[str, RunFailed]:
    return {e.run_id or "": RunFailed.from_event(e) for e in storage.events.read(type=RunFailed.event_type())}


def test_each_failure_records_the_exit_its_command_gave(storage: Storage) -> None:
    _run(storage, "r1", LLMUnavailable("openrouter did not answer: HTTP 503"))
    _run(storage, "r2", _stop_whose_way_out_lost_the_database())
    _run(storage, "r3", ValueError("a bug"))
    failures = _failures(storage)
    assert {k: f.exit_code for k, f in failures.items()} == {"r1": 75, "r2": 143, "r3": 1}
    assert failures["r2"].error_type == "OperationalError"  # what was raised stays said


def test_a_stop_whose_way_out_raised_a_database_error_ends_the_attempts_counted_as_a_wait(storage: Storage) -> None:
    _run(storage, "r1", LLMUnavailable("openrouter did not answer: HTTP 503"))
    _run(storage, "r2", _stop_whose_way_out_lost_the_database())  # the user's `timeout` stopped it
    _run(storage, "r3", None)  # the rerun that finished the week
    assert run_waited(storage.events, WEEK, "run-weekly", "r3") is None
    _run(storage, "r4", LLMUnavailable("openrouter did not answer: HTTP 503"))
    _run(storage, "r5", None)
    said = run_waited(storage.events, WEEK, "run-weekly", "r5")
    assert said is not None and "(1 attempt(s) failed" in said


def test_a_failure_recorded_before_the_exit_code_was_tells_a_stop_by_its_type(storage: Storage) -> None:
    _run(storage, "r1", LLMUnavailable("openrouter did not answer: HTTP 503"))
    run = RunLog(storage.events, run_id="r2", command="run-weekly", week_id=WEEK)
    run.started(arguments={}, mode="live", mode_reason="test", config_source="test")
    old = RunFailed(command="run-weekly", error_type="Terminated", error="terminated (SIGTERM)", duration_ms=1.0)
    storage.events.append([NewEvent.of(old, stream=run_stream("r2"), week_id=WEEK, run_id="r2")])
    run.unbind()
    _run(storage, "r3", None)
    assert _failures(storage)["r2"].exit_code is None
    assert run_waited(storage.events, WEEK, "run-weekly", "r3") is None  # a stop, told by its type
