"""A paper account reset at Alpaca a second time with no llmtrade trade between, through the command line (the real
alpaca-py client against the loopback fake). A reset makes a new paper account for the same keys: a new account id and
account_number, created at the reset. Before, a reset was found only by orders Alpaca no longer listed, and after the
first reset those were already accounted for: the second went unseen, its new balance taken for a loss (a halt)."""

from __future__ import annotations

from datetime import datetime

from typer.testing import CliRunner

from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    MIDDAY,
    OPENED,
    WEEKLY,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)

runner = CliRunner()
THURSDAY_NOON, THURSDAY_AFTERNOON = "2026-01-08T12:00:00-05:00", "2026-01-08T14:00:00-05:00"


def _reset_once(runs: Runs, alpaca: CountingAlpaca) -> str:  # noqa: F811
    """A fresh database: acct_1 bought SPY at Wednesday's open, its account reset to 25,000 on Thursday morning and
    found by the noon checkpoint. Its database's name."""
    name = runs.fresh_beside(alpaca)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))
    runs.invoke(["run-weekly"], OPENED)
    alpaca.server.reset_paper_account(25_000.0)
    runs.invoke(["checkpoint", "12:00"], THURSDAY_NOON)
    return name


def _mine(runs: Runs, name: str) -> list[tuple[str, dict]]:  # noqa: F811
    return [(t, e) for _, t, e in runs.events(name) if e.get("account_id") == ALPACA_ACCOUNT]


def test_a_second_reset_with_no_trade_between_is_found_and_halts_nothing(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    name = _reset_once(runs, alpaca)
    before = runs.account_shown(ALPACA_ACCOUNT, THURSDAY_NOON)["total_return"]

    alpaca.server.reset_paper_account(10_000.0)  # again, nothing traded since: no order of ours missing anew
    runs.invoke(["checkpoint", "14:00"], THURSDAY_AFTERNOON)

    mine = _mine(runs, name)
    resets = [e for t, e in mine if t == "BrokerAccountReset"]
    assert [r["equity"] for r in resets] == [25_000.0, 10_000.0]
    assert "AccountHalted" not in [t for t, _ in mine]  # not a 60% drawdown from 25,000
    after = runs.account_shown(ALPACA_ACCOUNT, THURSDAY_AFTERNOON)
    assert not after["halted"] and after["equity"] == 10_000.0
    # Said as what it is: the keys name a new account, not an account first valued at another balance.
    assert "from 25,000.00 (a paper account reset: the keys now name a new account)" in after["breaker_reason"]
    assert abs(after["total_return"] - before) < 1e-6, (before, after["total_return"])


def test_a_reset_with_an_order_queued_and_none_filled_is_a_reset_said_so(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """The weekly run's order queued for the open, the account reset before it filled: no order of ours was ever filled
    for Alpaca to stop listing. Before, the reason the breaker gave was that of an account first valued at 25,000."""
    name = runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)  # queued for the open
    alpaca.server.reset_paper_account(25_000.0)
    runs.invoke(["checkpoint", "12:00"], MIDDAY)

    mine = _mine(runs, name)
    [reset] = [e for t, e in mine if t == "BrokerAccountReset"]
    assert (reset["equity"], reset["last_equity"], reset["missing"]) == (25_000.0, 100_000.0, [])
    assert "AccountHalted" not in [t for t, _ in mine]
    reason = runs.account_shown(ALPACA_ACCOUNT, MIDDAY)["breaker_reason"]
    assert "the keys now name a new account" in reason and "first valued" not in reason


def test_an_order_a_reset_wiped_is_recorded_ended_once_and_looked_up_no_more(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """The reset took the queued order with it: Alpaca answers 404 for it. Before, it stayed "accepted" in the events
    and was looked up by its client_order_id at every valuation after, for as long as the books ran."""
    name = runs.fresh_beside(alpaca)
    runs.invoke(["run-weekly"], WEEKLY)  # queued for the open
    [sent] = [
        e["order"]["client_order_id"]
        for _, t, e in runs.events(name)
        if t == "OrderSubmitted" and e["order"]["account_id"] == ALPACA_ACCOUNT
    ]
    alpaca.server.reset_paper_account(25_000.0)
    runs.invoke(["checkpoint", "12:00"], MIDDAY)

    [ended] = [e for _, t, e in runs.events(name) if t == "QueuedOrderCanceled" and e["client_order_id"] == sent]
    assert ended["status"] == "rejected"
    assert "unfilled: the broker account was reset on 2026-01-07 and no longer has the order" in ended["reason"]
    asked = alpaca.server.count("GET", "/v2/orders:by_client_order_id")
    assert asked >= 1  # looked up once: Alpaca no longer has it
    runs.invoke(["checkpoint", "14:00"], "2026-01-07T14:00:00-05:00")
    assert alpaca.server.count("GET", "/v2/orders:by_client_order_id") == asked  # nothing left to look up
    assert [e["client_order_id"] for _, t, e in runs.events(name) if t == "QueuedOrderCanceled"].count(sent) == 1


def test_a_cash_change_and_a_trade_by_hand_at_the_same_account_are_no_reset(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """The account's id stays: a balance moved by hand (what a deposit looks like) and a hand trade are not a reset."""
    name = _reset_once(runs, alpaca)
    alpaca.server.set_account(cash=26_000.0)
    alpaca.server.set_position("SPY", 3, avg_entry_price=100.0)
    runs.invoke(["checkpoint", "14:00"], THURSDAY_AFTERNOON)

    assert [t for t, _ in _mine(runs, name)].count("BrokerAccountReset") == 1
