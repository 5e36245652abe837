"""Offline `ask`: two words that each point at kinds of events point at what both name, and "decide" at the decision.

A reader's Monday trial, six weeks of cron books: "which checkpoints were missed?" listed the newest 50 checkpoint
events (every STAY and SKIPPED of the last two days) and none of the three missed-checkpoint records, as "checkpoint"
widened what "missed" named; "what did the chairman decide on Wednesday?" listed Wednesday's 50 newest events, the
afternoon's checkpoints, and not the morning's decision, as no word pointed at it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app.ask import read_question
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.storage import migrations
from llmtrade.storage.event_store import EventStore

WEDNESDAY_8AM = datetime(2026, 1, 14, 13, 5, tzinfo=UTC)
MONDAY = "2026-01-19T07:30:00-05:00"


def _append(conn: psycopg.Connection, when: datetime, type_: str, stream: str, **payload: object) -> int:
    [stored] = EventStore(conn, FixedClock(when)).append([NewEvent(type=type_, stream=stream, payload=payload)])
    return stored.id


def _seed_week(url: str) -> tuple[int, int]:
    """A checkpoint missed and the chairman's decision on Wednesday morning, then 60 checkpoint records after them
    (three days of STAY and SKIPPED): the ids of the missed record and of the decision."""
    with psycopg.connect(url, autocommit=True) as conn:
        migrations.migrate(conn)
        decided = _append(conn, WEDNESDAY_8AM, "DecisionMade", "week:2026-01-14:decision", instrument="SPY")
        missed = _append(
            conn,
            WEDNESDAY_8AM + timedelta(hours=4),
            "CheckpointsMissed",
            "week:2026-01-14:missed-checkpoints",
            checkpoints=["checkpoint:2026-01-14T09:00"],
            reason="no run began in its time",
        )
        for n in range(60):
            _append(
                conn,
                WEDNESDAY_8AM + timedelta(hours=5, minutes=n),
                "CheckpointTaken",
                f"week:2026-01-14:checkpoint:2026-01-14T14:00:acct_{n % 5 + 1}",
                verdict="STAY",
            )
    return missed, decided


@pytest.mark.parametrize(
    ("question", "meant"),
    [
        ("which checkpoints were missed?", ["CheckpointsMissed"]),
        ("were any orders rejected?", ["OrderBlocked", "OrderRejected"]),
        ("what did the chairman decide on Wednesday?", ["DecisionMade"]),
        ("what was decided?", ["DecisionMade"]),
        # A change to the books by hand refused (`positions settle` at a slipped price, an unknown account: its
        # CommandRefused) is a refusal too: an upgrade trial's "what was refused today?" said "no matching event" on the
        # day of two refused settlements.
        (
            "what was refused today?",
            [
                "BudgetRefused",
                "ClockBehindRefused",
                "ClockSkewRefused",
                "CommandRefused",
                "ConfigRejected",
                "OrderRejected",
            ],
        ),
        # Words whose kinds do not meet still list either kind, as before.
        (
            "which orders filled?",
            ["LegHeldBack", "OrderBlocked", "OrderFilled", "OrderRejected", "OrderSubmitted", "OrdersPlanned"],
        ),
    ],
)
def test_the_question_words_point_at_what_they_name_together(question: str, meant: list[str]) -> None:
    now = datetime.fromisoformat(MONDAY)
    assert read_question(question, now, ["acct_1"])["types"] == meant


def test_offline_ask_lists_the_missed_checkpoints_and_the_decision_past_fifty_newer_checkpoints(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    missed, decided = _seed_week(cli_env["DATABASE_URL"])
    monkeypatch.setenv("LLMTRADE_NOW", MONDAY)
    runner = CliRunner()
    found = runner.invoke(app, ["ask", "which checkpoints were missed?", "--offline", "--json"])
    assert found.exit_code == 0, found.output
    assert [e["id"] for e in json.loads(found.stdout)["events"]] == [missed]
    decision = runner.invoke(app, ["ask", "what did the chairman decide on Wednesday?", "--offline", "--json"])
    assert decision.exit_code == 0, decision.output
    assert [e["id"] for e in json.loads(decision.stdout)["events"]] == [decided]
