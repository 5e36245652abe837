"""A held copy's read by week and type filters whichever list is shorter: the types' events or the week's.

Every job's mode check (workflows/weekly.py `week_mode`) reads the week's runs from the week's copy, which holds
hundreds of model calls besides a score of runs; filtering the week's every event was 2% of a backtest's CPU."""

from __future__ import annotations

from datetime import UTC, date, datetime

from llmtrade.domain.events import StoredEvent
from llmtrade.storage.held_events import Held, matching

WEEK = date(2024, 1, 1)


def _event(n: int, type_: str, week: date | None = WEEK) -> StoredEvent:
    return StoredEvent(
        id=n,
        type=type_,
        stream=f"s{n}",
        version=1,
        week_id=week,
        account_id=None,
        run_id="r",
        occurred_at=datetime(2024, 1, 1, tzinfo=UTC),
        payload={},
        schema_version=1,
    )


class _Untouchable(list):
    """A week's list that must not be walked (its length may be asked)."""

    def __iter__(self):  # type: ignore[no-untyped-def]
        raise AssertionError("the week's every event was filtered")


def _held(n_calls: int) -> Held:
    held = Held()
    for n in range(1, n_calls + 1):
        held.add(_event(n, "RunStarted" if n % 50 == 0 else "LLMCallCompleted"))
    return held


def test_runs_of_a_week_read_from_the_types_lists_not_the_weeks_every_event() -> None:
    held = _held(600)
    expected = [e for e in held.by_week[WEEK] if e.type in {"RunStarted", "RunFailed"}]
    held.by_week[WEEK] = _Untouchable(held.by_week[WEEK])
    found = matching(
        held,
        week_id=WEEK,
        run_id=None,
        type=["RunStarted", "RunFailed"],
        account_id=None,
        stream=None,
        after_id=None,
        limit=None,
    )
    assert found == expected and len(found) == 12


def test_a_type_more_common_than_the_week_is_read_from_the_week() -> None:
    held = _held(600)
    for n in range(601, 611):
        held.add(_event(n, "LLMCallCompleted", week=date(2024, 1, 8)))
    held.by_type["LLMCallCompleted"] = _Untouchable(held.by_type["LLMCallCompleted"])
    found = matching(
        held,
        week_id=date(2024, 1, 8),
        run_id=None,
        type=["LLMCallCompleted", "RunStarted"],
        account_id=None,
        stream=None,
        after_id=5,
        limit=3,
    )
    assert [e.id for e in found] == [601, 602, 603]
