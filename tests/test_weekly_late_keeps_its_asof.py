"""A weekly run days late, its late postmortem of last week run first, still decides from the prices an on-time run
would have (README: a week's as-of is its scheduled run; the sessions closed since are not in its inputs), and its
late line says so truly.

f75b8a0c moved a weekly run's as-of, on the machine's clock, to last week's postmortem's completion when that was later,
so that recall could show the lessons made just before. Run on a Friday (the machine off since Tuesday), the postmortem
completed on Friday and the week was read as of Friday: sized at Thursday's closes, two sessions an on-time run never
had, while the late line said "it decided from prices to the close of 2026-01-15, as it would have on time". The as-of
moves to the postmortem's completion only within the session its scheduled run read (a postmortem late by minutes)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from llmtrade.market.calendar import NEW_YORK
from tests.support import stored_events
from tests.test_weekly_after_postmortem_clock import _late_wake_up

FRIDAY = datetime(2026, 1, 16, 10, 0, tzinfo=NEW_YORK)  # the postmortem was due Tuesday 16:30, the weekly run 08:00


def test_a_weekly_run_days_late_after_its_late_postmortem_decides_from_its_scheduled_sessions_close(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("tests.test_weekly_after_postmortem_clock.LATE", FRIDAY)
    _late_wake_up(wednesday_week, monkeypatch, ["run-weekly", "--offline"])

    weekly = [e for e in stored_events(wednesday_week, type="RunStarted") if e.payload["command"] == "run-weekly"][-1]
    [snapshot] = [e for e in stored_events(wednesday_week, type="MarketSnapshotTaken") if e.run_id == weekly.run_id]
    taken = snapshot.payload["snapshot"]
    assert date.fromisoformat(taken["session"]) == date(2026, 1, 13), taken["session"]  # before: 2026-01-15
    asof = datetime.fromisoformat(taken["asof"])
    assert asof == datetime(2026, 1, 14, 8, 0, tzinfo=NEW_YORK), asof  # its scheduled run's
