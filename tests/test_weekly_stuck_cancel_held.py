"""A cancel stuck at Alpaca (pending_cancel for hours: alpacahq/Alpaca-API #111, #199) at the weekly run held every
account's week: the run stopped with exit 75 at every wake-up, the paper accounts (independent of Alpaca) traded nothing
and their checkpoints never came, because one account's order might still fill. It holds that account alone now: the
others trade their week, the held account is named with its order, why and what to do (a degraded run, an
AccountWeekHeld event), nothing is sent for it while its order may fill, and the run after the cancel has ended asks the
broker again and trades it once. Through the CLI, the real alpaca-py client against the loopback fake."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from llmtrade.cli import app
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
NEXT_WEEKLY, LATER = f"{NEXT_WEEK}T08:00:00-05:00", f"{NEXT_WEEK}T08:30:00-05:00"


def _of_week(done: Runs, kind: str) -> list[dict[str, object]]:
    return [p for s, t, p in done.events(done.databases[-1]) if t == kind and s.startswith(f"week:{NEXT_WEEK}:")]


def test_a_stuck_cancel_holds_only_its_account_and_the_rerun_after_it_ended_trades_it_once(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)
    _stuck_cancel(alpaca)
    posts = alpaca.server.count("POST", "/v2/orders")

    runs.monkeypatch.setenv("LLMTRADE_NOW", NEXT_WEEKLY)
    held = CliRunner().invoke(app, ["run-weekly", "--json"])

    assert held.exit_code == 0, held.output
    report = json.loads(held.stdout)
    [said] = [n for n in report["degraded"] if ALPACA_ACCOUNT in n and STUCK in n]
    assert "pending_cancel" in said and "Alpaca's support" in said and "run-weekly" in said, said
    assert said in held.stderr  # said as a warning, under the run's report
    planned = {str(p["account_id"]) for p in _of_week(runs, "OrdersPlanned")}
    assert planned and ALPACA_ACCOUNT not in planned  # the other accounts trade their week
    assert {str(p["order"]["account_id"]) for p in _of_week(runs, "OrderSubmitted")} <= planned  # type: ignore[index]
    [record] = _of_week(runs, "AccountWeekHeld")
    assert record["account_id"] == ALPACA_ACCOUNT and record["orders"] == [STUCK] and record["canceling"] == [STUCK]
    assert alpaca.server.count("POST", "/v2/orders") == posts  # nothing sent beside an order that may still fill
    [done] = _of_week(runs, "WeekCompleted")
    assert done["degraded"] is True  # the others' checkpoints come: the week ran, one account held

    # Still stuck: the week's run again holds it again, sends nothing and plans nothing twice; it says so, but warned
    # once (by the run that held it), not at every wake-up of run-due under -q.
    runs.monkeypatch.setenv("LLMTRADE_NOW", LATER)
    again = CliRunner().invoke(app, ["run-weekly"])
    assert again.exit_code == 0, again.output
    assert f"still: account {ALPACA_ACCOUNT} is held back this week: order(s) {STUCK}" in again.stderr
    quiet = CliRunner().invoke(app, ["-q", "run-weekly"])
    assert quiet.exit_code == 0 and STUCK not in quiet.output, quiet.output
    assert len(_of_week(runs, "AccountWeekHeld")) == 1  # the same hold, recorded once
    assert alpaca.server.count("POST", "/v2/orders") == posts
    assert len(_of_week(runs, "OrdersPlanned")) == len(planned)
    submitted = len(_of_week(runs, "OrderSubmitted"))

    alpaca.server.settle_cancels()  # Alpaca carries the cancel out at last
    due = runs.invoke(["run-due", "--json"], f"{NEXT_WEEK}T08:35:00-05:00")  # the weekly run is due again for it
    assert f"weekly:{NEXT_WEEK}" in due, due
    plans = _of_week(runs, "OrdersPlanned")
    [mine] = [p for p in plans if p["account_id"] == ALPACA_ACCOUNT]
    sent = alpaca.server.count("POST", "/v2/orders") - posts
    assert sent == len(mine["orders"]) > 0  # traded once its cancel ended
    assert len(_of_week(runs, "OrderSubmitted")) == submitted + sent  # the others' orders not sent again
    assert all(n == 1 for n in alpaca.submitted.values())
    assert not _of_week(runs, "PlanAbandoned")  # the others' plans, sent hours before, are left as they are

    # Once traded, the week is done for it: no rerun sends anything more.
    runs.invoke(["run-weekly"], f"{NEXT_WEEK}T08:40:00-05:00")
    runs.invoke(["run-due"], f"{NEXT_WEEK}T08:45:00-05:00")
    assert alpaca.server.count("POST", "/v2/orders") - posts == sent
    assert len(_of_week(runs, "OrdersPlanned")) == len(plans)


def test_run_due_before_the_open_runs_the_week_of_the_other_accounts_beside_a_stuck_cancel(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """run-due before the open skipped the weekly run whole while any account had an order of llmtrade's open ("waits
    for the open: 1 order(s) queued for it fill first"): a stuck cancel never fills at the open, and the accounts
    without one waited for it all the same. It waits so only when every account that trades has such orders (the
    quick start's, queued for Wednesday's open: the run would stop on them); else the week runs, the account held."""
    runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)
    _stuck_cancel(alpaca)
    posts = alpaca.server.count("POST", "/v2/orders")

    said = runs.invoke(["run-due"], NEXT_WEEKLY)

    assert "waits for the open" not in said, said
    assert f"weekly:{NEXT_WEEK}" in said
    planned = {str(p["account_id"]) for p in _of_week(runs, "OrdersPlanned")}
    assert planned and ALPACA_ACCOUNT not in planned
    assert [p["account_id"] for p in _of_week(runs, "AccountWeekHeld")] == [ALPACA_ACCOUNT]
    assert alpaca.server.count("POST", "/v2/orders") == posts


def test_a_checkpoint_leaves_an_account_whose_week_is_held_to_the_weekly_run_that_plans_it(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """The cancel ended, a checkpoint ran (09:00, before the open) before the week's next weekly run: it judged the
    held account against the week's pitch from last week's position, and could trade it (an exit, a flip) before the
    weekly run planned and sent the account's week from what it held then. A checkpoint now skips such an account,
    saying its week is held, and the weekly run that follows trades it once."""
    runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)
    _stuck_cancel(alpaca)
    runs.invoke(["run-weekly"], NEXT_WEEKLY)
    alpaca.server.settle_cancels()
    posts = alpaca.server.count("POST", "/v2/orders")

    report = json.loads(runs.invoke(["checkpoint", "09:00", "--json"], f"{NEXT_WEEK}T09:00:00-05:00"))

    [account] = [a for a in report["accounts"] if a["account_id"] == ALPACA_ACCOUNT]
    said = account["skipped"] or ""
    assert "held back" in said and "weekly run" in said, said
    assert alpaca.server.count("POST", "/v2/orders") == posts
    runs.invoke(["run-weekly"], f"{NEXT_WEEK}T09:05:00-05:00")
    [mine] = [p for p in _of_week(runs, "OrdersPlanned") if p["account_id"] == ALPACA_ACCOUNT]
    assert alpaca.server.count("POST", "/v2/orders") - posts == len(mine["orders"]) > 0  # type: ignore[arg-type]
