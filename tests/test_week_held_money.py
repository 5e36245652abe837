"""The money paths of an account whose week the weekly run held back (its cancel stuck at Alpaca), planned by a later
run of the week: a crash between its plan and its orders, and what the week's end says of one never planned. Through
the CLI, the real alpaca-py client against the loopback fake."""

from __future__ import annotations

import json

from alpaca.trading.client import TradingClient
from alpaca.trading.enums import OrderSide, TimeInForce
from alpaca.trading.requests import MarketOrderRequest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_checkpoint_stuck_cancel import _stuck_cancel
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    KEY,
    SECRET,
    WEEKLY,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)
from tests.test_weekly_stuck_cancel_held import NEXT_WEEK, NEXT_WEEKLY, _of_week

LAST_WEEKS = "lt-20251231-acct_1-SPY-stuck"  # an order of last week's, its cancel stuck at Alpaca


def test_a_run_killed_after_planning_a_held_account_sends_its_orders_once_at_the_next_wake_up(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """The run that plans a held account appends its OrdersPlanned, then dies before execution sends them: the account
    is no longer held (it is planned), so run-due found the weekly job done and never ran it again; the plan stayed
    unsent all week. The next wake-up sends it, once, asking the broker first."""
    runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)
    _stuck_cancel(alpaca)
    runs.invoke(["run-weekly"], NEXT_WEEKLY)
    alpaca.server.settle_cancels()
    posts = alpaca.server.count("POST", "/v2/orders")

    assert runs.crash(["run-due"], f"{NEXT_WEEK}T08:35:00-05:00", "OrdersPlanned", "after")
    [mine] = [p for p in _of_week(runs, "OrdersPlanned") if p["account_id"] == ALPACA_ACCOUNT]
    assert alpaca.server.count("POST", "/v2/orders") == posts  # died before sending

    assert f"weekly:{NEXT_WEEK}" in runs.invoke(["run-due"], f"{NEXT_WEEK}T08:40:00-05:00")
    runs.invoke(["run-due"], f"{NEXT_WEEK}T08:45:00-05:00")
    sent = alpaca.server.count("POST", "/v2/orders") - posts
    assert sent == len(mine["orders"]) > 0  # type: ignore[arg-type]
    assert all(n == 1 for n in alpaca.submitted.values())


def test_a_run_killed_after_its_broker_took_a_held_accounts_order_records_it_from_the_broker_and_sends_nothing_more(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """Killed between Alpaca's acceptance of the held account's order and its record: the next wake-up runs the week
    again for it, finds the order at the broker (asked by its client order id), records it and sends it no second
    time; the wake-up after runs nothing more."""
    runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)
    _stuck_cancel(alpaca)
    runs.invoke(["run-weekly"], NEXT_WEEKLY)
    alpaca.server.settle_cancels()
    posts = alpaca.server.count("POST", "/v2/orders")

    assert runs.crash(["run-due"], f"{NEXT_WEEK}T08:35:00-05:00", "OrderSubmitted", "before")
    [mine] = [p for p in _of_week(runs, "OrdersPlanned") if p["account_id"] == ALPACA_ACCOUNT]
    assert alpaca.server.count("POST", "/v2/orders") - posts == 1  # the broker has it, the stream does not

    assert f"weekly:{NEXT_WEEK}" in runs.invoke(["run-due"], f"{NEXT_WEEK}T08:40:00-05:00")
    assert "nothing is due" in runs.invoke(["run-due"], f"{NEXT_WEEK}T08:45:00-05:00")
    assert alpaca.server.count("POST", "/v2/orders") - posts == len(mine["orders"]) == 1  # type: ignore[arg-type]
    assert all(n == 1 for n in alpaca.submitted.values())
    ids = [p["order"]["client_order_id"] for p in _of_week(runs, "OrderSubmitted")]  # type: ignore[index]
    assert ids.count(mine["orders"][0]["client_order_id"]) == 1  # type: ignore[index]


def test_the_postmortem_of_a_week_whose_held_account_was_never_planned_says_why_it_has_no_row(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """A cancel stuck at Alpaca all week: the account's week was never planned, so it has no week-start valuation and
    the postmortem left it out without a word (no row, nothing said, `without_rows` empty), as if it were not in the
    week. It says now that the account's week was held back and never planned, naming the order."""
    runs.fresh_beside(alpaca)
    person = TradingClient(KEY, SECRET, paper=True, url_override=alpaca.server.base_url)
    order = MarketOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id=LAST_WEEKS
    )
    sent = person.submit_order(order)
    alpaca.server.hold_cancels = True
    person.cancel_order_by_id(sent.id)  # pending_cancel, the whole week
    runs.invoke(["run-weekly"], WEEKLY)
    held = [p for s, t, p in runs.events(runs.databases[-1]) if t == "AccountWeekHeld"]
    assert [p["account_id"] for p in held] == [ALPACA_ACCOUNT]

    runs.monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
    done = CliRunner().invoke(app, ["postmortem", "--week", "2026-01-07", "--json"])

    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert ALPACA_ACCOUNT not in {a["account_id"] for a in report["accounts"]}
    [said] = [n for n in report["without_rows"] if n.startswith(ALPACA_ACCOUNT)]
    assert "held back" in said and "never planned" in said and LAST_WEEKS in said, said
    assert said in done.stderr  # said as a warning too
    text = CliRunner().invoke(app, ["postmortem", "--week", "2026-01-07"])  # the week closed: shown again
    assert text.exit_code == 0 and f"NO ROW: {said}" in text.stdout, text.output


def test_a_held_account_planned_days_later_says_it_is_sized_at_the_weeks_older_closes(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """Held on Wednesday by a cancel stuck at Alpaca, the account is planned on Friday, once the cancel ended: sized at
    the week's snapshot (Tuesday's closes), as the other accounts were, though Wednesday's and Thursday's sessions have
    closed since. That was silent; it is said now (a warning naming both sessions), and its orders go once."""
    runs.fresh_beside(alpaca)
    person = TradingClient(KEY, SECRET, paper=True, url_override=alpaca.server.base_url)
    order = MarketOrderRequest(
        symbol="SPY", qty=1, side=OrderSide.BUY, time_in_force=TimeInForce.DAY, client_order_id=LAST_WEEKS
    )
    alpaca.server.hold_cancels = True
    person.cancel_order_by_id(person.submit_order(order).id)
    runs.invoke(["run-weekly"], WEEKLY)
    alpaca.server.settle_cancels()
    posts = alpaca.server.count("POST", "/v2/orders")

    runs.monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T08:00:00-05:00")
    friday = CliRunner().invoke(app, ["run-weekly"])

    assert friday.exit_code == 0, friday.output
    [said] = [line for line in friday.stderr.splitlines() if "sized at the week's prices" in line]
    assert ALPACA_ACCOUNT in said and "closes of 2026-01-06" in said and "2026-01-08" in said, said
    plans = [p for s, t, p in runs.events(runs.databases[-1]) if t == "OrdersPlanned" and p["account_id"] == "acct_1"]
    assert alpaca.server.count("POST", "/v2/orders") - posts == len(plans[0]["orders"]) > 0
    again = CliRunner().invoke(app, ["run-weekly"])  # planned already: said by the run that planned it only
    assert again.exit_code == 0 and "sized at the week's prices" not in again.output, again.output
