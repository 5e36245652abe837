"""A backtest sweep's own record: what it tries, each run that finished, each attempt that failed.

These live on the `sweep` stream (streams.SWEEP) of the sweep's own database (`llmtrade_sw_<name>`); each
run's books are a backtest database of their own (`llmtrade_bt_<sweep>-<run hash>`). A rerun of the sweep
reads them to skip the runs already finished: a run is identified by the hash of its inputs (the config
after its overrides, the prices' fingerprint, the date range, the mode and the code version), so a finished
run is never computed again.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar

from pydantic import Field

from llmtrade.domain.events import EventPayload


class SweepStarted(EventPayload):
    """An invocation of `llmtrade backtest sweep`: how many runs the file names and how many were already done."""

    name: str
    runs: int
    run_ids: list[str]  # every run of the sweep file, in plan order (the leaderboard's tie order)
    trials: int  # the PM and chairman accounts of every run, and of `earlier`'s: the deflated Sharpe's N
    finished_before: int
    executor: str  # serial | local | ray
    workers: int
    version: str
    # Runs an earlier version of the file finished that are no configuration of it now (an axis value removed or
    # changed after their results were seen), by run id: their accounts are counted in `trials`.
    earlier: list[str] = Field(default_factory=list, exclude_if=lambda ids: not ids)  # absent when none: as before
    # Each run's axes (its label), in the order of `run_ids`: `report --sweep` names a run with no result of its own
    # (stopped, running, not run) by them, where it gave the hash's first 12 digits. Absent in records made before.
    labels: list[str] = Field(default_factory=list, exclude_if=lambda labels: not labels)


class SweepRunFinished(EventPayload):
    """One run of the sweep finished: its identity, its axes' values and its backtest's leaderboard (the
    `Leaderboard` record, dumped as JSON), as the worker returned it.

    Schema 2: every standing of the leaderboard (and of its periods) has `weeks_more`, the weeks still needed to
    tell it from FLAT."""

    schema_version: ClassVar[int] = 2

    run_id: str  # sha256 of the run's inputs (the sweep's content hash)
    backtest: str  # the backtest name its books are kept under
    label: str  # e.g. "risk=tight models=default memory=on seed=7 range=2024-01-03..2024-01-24"
    axes: dict[str, str]
    start: date
    end: date
    attempt: int  # 1 for a first try
    trial_accounts: list[str]  # its PM and chairman accounts: the sweep leaderboard's rows
    leaderboard: dict[str, Any]
    # sha256 of what it tried (sweep/spec.py `configuration_id`: the config after its overrides, the weeks, the mode),
    # whatever the prices or build: a later file that keeps the label but changes an override's values tries another
    # configuration, which the label alone counted as this one. None in runs recorded before it was.
    configuration: str | None = Field(default=None, exclude_if=lambda value: value is None)

    @staticmethod
    def upcast_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
        # Schema 1's standings gave the minimum track record length alone: the weeks still needed follow from it
        # as analytics/standings.py `more_weeks` computes them (the domain layer cannot import it).
        board = payload["leaderboard"]
        periods = [{**p, "standings": [_with_weeks_more(s) for s in p["standings"]]} for p in board.get("periods", [])]
        standings = [_with_weeks_more(s) for s in board["standings"]]
        return {**payload, "leaderboard": {**board, "standings": standings, "periods": periods}}


def _with_weeks_more(standing: dict[str, Any]) -> dict[str, Any]:
    needed = standing.get("weeks_needed")
    return {**standing, "weeks_more": None if needed is None else max(0.0, needed - standing["weeks"])}


class SweepRunFailed(EventPayload):
    """One attempt of a run failed; `final` when no retry is left (the sweep then exits non-zero)."""

    run_id: str
    backtest: str
    label: str
    attempt: int
    final: bool
    error: str  # the failure's class and message, as the worker caught it
