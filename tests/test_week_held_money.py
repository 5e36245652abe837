"""The money paths of an account whose week the weekly run held back (its cancel stuck at Alpaca), planned by a later
run of the week: a crash between its plan and its orders, and what the week's end says of one never planned. Through
the CLI, the real alpaca-py client against the loopback fake."""

from __future__ import annotations

from tests.test_checkpoint_stuck_cancel import _stuck_cancel
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    WEEKLY,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)
from tests.test_weekly_stuck_cancel_held import NEXT_WEEK, NEXT_WEEKLY, _of_week


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
