"""A stop (SIGTERM, Ctrl-C: a KeyboardInterrupt in the main thread) landing while execution hands the accounts' plans
to threads: no account's orders go out after the command's job has ended.

The stop is placed where a full run of the suite met it under load (test_live_stops' cron run-due test: an order at
the broker whose OrderSubmitted was not on file): in the main thread, just after it started the thread an account's
plan was queued for, before the loop's executor counted that thread among those its shutdown waits for."""

from __future__ import annotations

from typing import Any

import pytest

from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import execute_plans
from tests.test_plan_abandoned import CONFIG, WEEK, _desk, _order, _plan
from tests.test_work_stopped_while_handed_to_threads import _stopped, _stopped_as_the_first_thread_starts


def test_a_stop_as_an_accounts_thread_starts_sends_none_of_its_orders_after_the_job_ended(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = _desk(storage, 0)
    plan = _plan(desk, _order(desk.account.id, "open"))
    work: Any = execute_plans(
        storage.events,
        {desk.account.id: desk},
        [plan],
        CONFIG,
        {"SPY": 100.0},
        stream="week:2026-01-07:orders",
        week_id=WEEK,
        run_id="r",
    )
    # The account's thread goes on only once the job is over, as one a loaded machine schedules late: whatever it
    # does then is done behind the command's back (in the CLI: after the run's failure was recorded and its connection
    # closed, so an order accepted by the broker had its OrderSubmitted fail). Joined, and found ended, on leaving.
    with _stopped_as_the_first_thread_starts(monkeypatch) as job_ended:
        _stopped(work)
        job_ended()

    assert storage.events.read(type="PaperOrderAccepted") == []  # the account's order never reached the broker
    assert storage.events.read(type="OrderSubmitted") == []
