"""A paper account reset at Alpaca in the books that outlive it, through the command line (the real alpaca-py client
against the loopback fake): the leaderboard's curve and the report, `status`'s week and drawdown, and the postmortem of
the week it came in. acct_1 buys SPY at Wednesday's open; the user resets the account on Thursday morning (Alpaca: its
positions and order history gone, a new balance), Thursday's checkpoint records the reset; SPY falls 10% on Monday,
which acct_1, holding nothing since Thursday, never saw."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.crash_points import database
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    _PRIMED,
    ALPACA_ACCOUNT,
    OPENED,
    CountingAlpaca,
    Runs,
    World,
    alpaca,
    runs,
)
from tests.test_crash_points import world as crash_world  # noqa: F401  (fixture)
from tests.test_week_lifecycle import sync_intraday

runner = CliRunner()
THURSDAY_NOON = "2026-01-08T12:00:00-05:00"
AFTER_THE_WEEK = "2026-01-14T07:00:00-05:00"  # before the next weekly run: the postmortem's time
FALL_FROM = "2026-01-12"


NEXT_WEEK = ["2026-01-14", "2026-01-15", "2026-01-16", "2026-01-20"]  # flat, but SPY 10% up from the 16th
RISE_FROM = "2026-01-16"
_RESET: dict[str, tuple[str, dict[str, Any]]] = {}  # the reset week's database and Alpaca's state (_reset_on_thursday)


@pytest.fixture(scope="module")
def world(crash_world: World) -> Iterator[World]:  # noqa: F811
    """The crash tests' market with SPY 10% lower from Monday 2026-01-12 on (open, high, low and close), and the next
    week's sessions flat at the last close, but SPY 10% higher from Friday 2026-01-16."""
    for path in crash_world.csv.glob("*.csv"):
        header, *rows = path.read_text().splitlines()
        last = rows[-1].split(",")
        rows += [",".join([day, *last[1:]]) for day in NEXT_WEEK]
        moved = []
        for row in rows:
            day, *values = row.split(",")
            if path.stem == "SPY":
                factor = (0.9 if day >= FALL_FROM else 1.0) * (1.1 if day >= RISE_FROM else 1.0)
                values[:4] = [str(float(v) * factor) for v in values[:4]]
            moved.append(",".join([day, *values]))
        path.write_text("\n".join([header, *moved]) + "\n")
    sync_intraday(crash_world.csv)
    yield crash_world


def _reset_on_thursday(runs: Runs, alpaca: CountingAlpaca) -> str:  # noqa: F811
    """A fresh database: acct_1 bought SPY at Alpaca at Wednesday's open, the account reset to 25,000 on Thursday
    morning, and Thursday's noon checkpoint found it (one BrokerAccountReset). Its database's name.

    Made once per module (a weekly run and a checkpoint, the same for each test): the first test makes it and keeps a
    copy of its database and the Alpaca fake's state then; the others start from their own copy of each."""
    if (kept := _RESET.get("thursday")) is not None:
        template, state = kept
        alpaca.restore(state)
        alpaca.server.set_time(datetime.fromisoformat(OPENED))  # as left by the run that made it
        return runs.fresh(template)
    name = runs.fresh_beside(alpaca)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))  # Alpaca stamps the fill when it happens
    runs.invoke(["run-weekly"], OPENED)
    alpaca.server.reset_paper_account(25_000.0)
    runs.invoke(["checkpoint", "12:00"], THURSDAY_NOON)
    assert [t for _, t, e in runs.events(name) if e.get("account_id") == ALPACA_ACCOUNT].count(
        "BrokerAccountReset"
    ) == 1
    # Kept in the crash tests' _PRIMED, which their `world` drops at the module's end.
    _PRIMED["reset on thursday"] = template = database(runs.world.admin, template=name)
    _RESET["thursday"] = (template, alpaca.snapshot())
    return name


def test_the_leaderboard_after_a_reset_drops_the_positions_it_wiped_and_chains_the_returns(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Before, the leaderboard folded every recorded fill from the starting cash: the SPY the reset wiped stayed in
    acct_1's books, and Monday's fall was booked to it (-3.8% where it made -2.0%, all before the reset)."""
    _reset_on_thursday(runs, alpaca)
    runs.invoke(["postmortem"], AFTER_THE_WEEK)
    board = json.loads(runs.invoke(["leaderboard", "--live", "--json"], AFTER_THE_WEEK))

    curve = {c["name"]: c for c in board["curves"]}[ALPACA_ACCOUNT]
    days = curve["sessions"]
    equity = dict(zip(days, curve["equity"], strict=True))
    # Held SPY through Wednesday's close; nothing from the reset on: flat since, Monday's fall not its own.
    assert equity["2026-01-07"] < equity["2026-01-06"]
    assert all(equity[d] == pytest.approx(equity["2026-01-07"]) for d in days if d > "2026-01-07")
    row = {s["name"]: s for s in board["standings"]}[ALPACA_ACCOUNT]
    assert row["total_return"] == pytest.approx(equity["2026-01-07"] / equity["2026-01-06"] - 1)
    said = [n for n in board["notes"] if n.startswith(f"{ALPACA_ACCOUNT}: its broker account was reset")]
    assert len(said) == 1 and "on 2026-01-08 at 25,000.00" in said[0] and "neither a loss nor a gain" in said[0]

    output = tmp_path / "report.html"
    runs.invoke(["report", "-o", str(output)], AFTER_THE_WEEK)
    assert "its broker account was reset" in output.read_text()


def _acct_1(status: str) -> dict:
    return {a["account_id"]: a for a in json.loads(status)["accounts"]}[ALPACA_ACCOUNT]


def test_a_reset_mid_week_is_neither_the_weeks_pnl_nor_a_drawdown_in_status(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """Before, Thursday's status showed acct_1's week P/L as -75,000.00 (25,000 now against 100,000 at the week's start)
    and a 75% maximum drawdown (now's 25,000 after closes near 100,000), where its total return said -2.0%."""
    _reset_on_thursday(runs, alpaca)
    shown = _acct_1(runs.invoke(["status", "--json"], "2026-01-08T13:00:00-05:00"))

    assert shown["equity"] == pytest.approx(25_000.0)  # the broker's balance, as it is
    made = shown["total_return"]
    assert -0.05 < made < 0  # SPY bought at the open, lower at Wednesday's close: -2.0%, not the reset's -75%
    assert shown["week_pnl"] == pytest.approx(100_000.0 * made, abs=0.01)  # the week began at 100,000
    assert shown["max_drawdown"] == pytest.approx(-made)


def test_the_postmortem_of_a_week_reset_mid_week_chains_its_return_as_the_leaderboard(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """Before, the postmortem found the reset (Alpaca no longer lists the week's buy) and valued the week from every
    recorded fill since the books began: the SPY the reset wiped held to the week's end, Monday's fall in it (-3.8%
    recorded as the week's return, into week_summaries and the memory). Now the week is chained across the reset, as
    the leaderboard's curve is: what it made to Wednesday's close, nothing after."""
    name = _reset_on_thursday(runs, alpaca)
    runs.invoke(["postmortem"], AFTER_THE_WEEK)
    board = json.loads(runs.invoke(["leaderboard", "--live", "--json"], AFTER_THE_WEEK))

    [week] = [
        e["postmortem"]
        for _, t, e in runs.events(name)
        if t == "PostmortemWritten" and e["postmortem"]["account_id"] == ALPACA_ACCOUNT
    ]
    curve = {c["name"]: c for c in board["curves"]}[ALPACA_ACCOUNT]
    wednesday = dict(zip(curve["sessions"], curve["equity"], strict=True))["2026-01-07"]
    assert week["end_equity"] == pytest.approx(wednesday)  # held to Wednesday's close, nothing after the reset
    assert week["week_return"] == pytest.approx(wednesday / 100_000.0 - 1)
    row = {s["name"]: s for s in board["standings"]}[ALPACA_ACCOUNT]
    assert week["week_return"] == pytest.approx(row["total_return"])  # the week is the books' whole range here
    assert week["realized_pnl"] + week["unrealized_pnl"] == pytest.approx(week["week_pnl"], abs=0.02)


def test_an_account_reset_twice_is_chained_across_both_resets(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """Reset on Thursday (to 25,000), acct_1 buys SPY again in the next week's run on the new balance, and the account
    is reset again on that Thursday (to 50,000). Before, the postmortem of the second week valued it from every fill
    since the books began at the configured starting cash (100,000, the first week's SPY held still): an end of some
    105,000 against a week's start of 25,000. Now each stretch is counted from its own start: the second week is what
    its SPY did from its fill to Wednesday's close, and Friday's rise, after the second reset, is nobody's."""
    name = _reset_on_thursday(runs, alpaca)
    runs.invoke(["postmortem"], AFTER_THE_WEEK)
    week_two = "2026-01-14T10:00:00-05:00"
    alpaca.server.set_time(datetime.fromisoformat(week_two))
    alpaca.server.set_price("SPY", 0.98 * float(_close(runs, "SPY", "2026-01-13")))  # bought 2% under the close
    runs.invoke(["run-weekly"], week_two)
    bought = [e for _, t, e in runs.events(name) if t == "OrderFilled" and e["fill"]["account_id"] == ALPACA_ACCOUNT]
    assert len(bought) == 2  # the week's SPY on the new balance
    alpaca.server.reset_paper_account(50_000.0)
    runs.invoke(["checkpoint", "12:00"], "2026-01-15T12:00:00-05:00")
    resets = [e for _, t, e in runs.events(name) if t == "BrokerAccountReset"]
    assert [r["equity"] for r in resets] == [pytest.approx(25_000.0), pytest.approx(50_000.0)]

    after = "2026-01-21T07:00:00-05:00"
    runs.invoke(["postmortem"], after)
    board = json.loads(runs.invoke(["leaderboard", "--live", "--json"], after))
    curve = {c["name"]: c for c in board["curves"]}[ALPACA_ACCOUNT]
    equity = dict(zip(curve["sessions"], curve["equity"], strict=True))
    assert equity["2026-01-16"] == pytest.approx(equity["2026-01-15"])  # after the second reset: flat
    row = {s["name"]: s for s in board["standings"]}[ALPACA_ACCOUNT]
    assert row["total_return"] == pytest.approx(equity["2026-01-20"] / 100_000.0 - 1)
    [week] = [
        e["postmortem"]
        for _, t, e in runs.events(name)
        if t == "PostmortemWritten"
        and e["postmortem"]["account_id"] == ALPACA_ACCOUNT
        and e["postmortem"]["week_id"] == "2026-01-14"
    ]
    assert equity["2026-01-14"] > equity["2026-01-13"]  # its SPY, bought under the close it was marked at
    assert week["start_equity"] == pytest.approx(25_000.0, abs=1.0)
    assert week["week_return"] == pytest.approx(equity["2026-01-14"] / equity["2026-01-13"] - 1, abs=1e-4)
    shown = _acct_1(runs.invoke(["status", "--json"], after))
    assert shown["total_return"] == pytest.approx(row["total_return"])


def _close(runs: Runs, symbol: str, day: str) -> str:  # noqa: F811
    for row in (runs.world.csv / f"{symbol}.csv").read_text().splitlines():
        if row.startswith(day):
            return row.split(",")[4]
    raise AssertionError(f"no {symbol} close on {day}")


def test_an_alpaca_account_begun_at_another_balance_than_starting_cash_starts_the_books_there(
    runs: Runs,  # noqa: F811
    alpaca: CountingAlpaca,  # noqa: F811
) -> None:
    """Alpaca lets a paper account be created or reset at any balance: the user made acct_1's 25,000 before llmtrade's
    first week, and left accounts.yaml's starting_cash at 100,000. Before, the first weekly run's breaker took the
    25,000 for a 75% drawdown from a peak of 100,000 and halted the account (its first order never sent), and status
    showed -75.0%. Now the books begin at what Alpaca held, as at a reset, and say so."""
    name = runs.fresh_beside(alpaca)
    alpaca.server.reset_paper_account(25_000.0)
    alpaca.server.fill_immediately = True
    alpaca.server.set_time(datetime.fromisoformat(OPENED))
    runs.invoke(["run-weekly"], OPENED)

    mine = [(t, e) for _, t, e in runs.events(name) if e.get("account_id") == ALPACA_ACCOUNT]
    assert "AccountHalted" not in [t for t, _ in mine]
    sent = [e["order"] for _, t, e in runs.events(name) if t == "OrderSubmitted"]
    assert [o["symbol"] for o in sent if o["account_id"] == ALPACA_ACCOUNT] == ["SPY"]  # sent, sized on 25,000
    [began] = [e for t, e in mine if t == "BrokerAccountReset"]
    assert (began["equity"], began["missing"]) == (pytest.approx(25_000.0), [])

    runs.invoke(["postmortem"], AFTER_THE_WEEK)
    board = json.loads(runs.invoke(["leaderboard", "--live", "--json"], AFTER_THE_WEEK))
    row = {s["name"]: s for s in board["standings"]}[ALPACA_ACCOUNT]
    assert -0.05 < row["total_return"] < 0  # its SPY to Wednesday's close and Monday's fall: not -75%
    assert any(
        n.startswith(f"{ALPACA_ACCOUNT}: its broker account") and "began at 25,000.00" in n for n in board["notes"]
    )
    alpaca.server.set_price("SPY", float(_close(runs, "SPY", "2026-01-13")))  # Alpaca's equity at that close
    shown = _acct_1(runs.invoke(["status", "--json"], AFTER_THE_WEEK))
    assert not shown["halted"] and shown["total_return"] == pytest.approx(row["total_return"], abs=1e-4)
