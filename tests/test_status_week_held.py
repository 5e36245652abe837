"""`status` said nothing of an account whose week the weekly run held back (an order of llmtrade's still open at its
broker: an Alpaca cancel stuck in pending_cancel for hours): its equity and positions read as if its week had traded.
It says now, per held account, that its week is held back and why, in text and in --json (`week_held`), until a run
of the week plans it. Through the CLI, the real alpaca-py client against the loopback fake."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import assert_obeys
from tests.test_checkpoint_stuck_cancel import STUCK, _stuck_cancel
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    WEEKLY,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)

NEXT_WEEK = "2026-01-14"


def test_status_says_an_account_whose_week_is_held_back_and_why_until_the_run_that_plans_it(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)
    _stuck_cancel(alpaca)
    runs.invoke(["run-weekly"], f"{NEXT_WEEK}T08:00:00-05:00")

    shown = json.loads(runs.invoke(["status", "--json"], f"{NEXT_WEEK}T08:30:00-05:00"))

    assert_obeys(shown, CliRunner().invoke(app, ["schema", "status"]).stdout)
    rows = {a["account_id"]: a for a in shown["accounts"]}
    said = rows[ALPACA_ACCOUNT]["week_held"] or ""
    assert "held back" in said and STUCK in said and "pending_cancel" in said, said
    assert all(a["week_held"] is None for i, a in rows.items() if i != ALPACA_ACCOUNT)
    text = runs.invoke(["status"], f"{NEXT_WEEK}T08:31:00-05:00")
    assert "held back" in text and STUCK in text, text

    alpaca.server.settle_cancels()
    runs.invoke(["run-weekly"], f"{NEXT_WEEK}T08:35:00-05:00")  # plans and trades it: held no longer
    assert runs.account_shown(ALPACA_ACCOUNT, f"{NEXT_WEEK}T08:40:00-05:00")["week_held"] is None
    assert "held back" not in runs.invoke(["status"], f"{NEXT_WEEK}T08:41:00-05:00")
