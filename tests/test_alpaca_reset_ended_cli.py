"""The postmortem of a week whose Alpaca paper account was reset mid-week, the stretch before the reset holding a symbol
whose prices ended (its CSV file no longer written), through the command line (the real alpaca-py client against the
loopback fake). acct_3 (at Alpaca here) buys GLD on Wednesday 5% above the close it will keep; GLD.csv then gets no
row after Wednesday; the user resets the account on Friday morning and Friday's checkpoint records it. The week is
chained across the reset from the stretch's books at the last close before it (workflows/account_reset.week_growth):
that valuation (`_closes_before`) priced GLD at its cost, no close of it that session, where the leaderboard's curve
and every other valuation mark it at its last close."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.test_crash_points import (  # noqa: F401  (fixtures)
    KEY,
    OPENED,
    SECRET,
    CountingAlpaca,
    Runs,
    World,
    alpaca,
    runs,
)
from tests.test_crash_points import world as crash_world  # noqa: F401  (fixture)

ACCOUNT = "acct_3"  # its PM pitches GLD (tests/test_week_lifecycle.PITCHES)
FRIDAY_NOON = "2026-01-09T12:00:00-05:00"
AFTER_THE_WEEK = "2026-01-14T07:00:00-05:00"


@pytest.fixture(scope="module")
def world(crash_world: World) -> Iterator[World]:  # noqa: F811
    yield crash_world


@pytest.fixture
def at_alpaca(alpaca: CountingAlpaca, monkeypatch: pytest.MonkeyPatch) -> CountingAlpaca:  # noqa: F811
    """acct_3 trades at the fake Alpaca, acct_1 on paper."""
    monkeypatch.delenv("ALPACA_ACCT_1_KEY")
    monkeypatch.delenv("ALPACA_ACCT_1_SECRET")
    monkeypatch.setenv("ALPACA_ACCT_3_KEY", KEY)
    monkeypatch.setenv("ALPACA_ACCT_3_SECRET", SECRET)
    return alpaca


def test_the_postmortem_chains_a_reset_week_with_a_held_symbol_whose_prices_ended_at_its_last_close(
    runs: Runs,  # noqa: F811
    at_alpaca: CountingAlpaca,
) -> None:
    gld = runs.world.csv / "GLD.csv"
    kept = gld.read_text()
    try:
        name = runs.fresh_beside(at_alpaca)
        tuesday_close = runs.world.closes["GLD"]
        at_alpaca.server.fill_immediately = True
        at_alpaca.server.set_time(datetime.fromisoformat(OPENED))
        at_alpaca.server.set_price("GLD", tuesday_close * 1.05)  # bought 5% above the last close it will have
        runs.invoke(["run-weekly"], OPENED)
        bought = [
            e["fill"]
            for _, t, e in runs.events(name)
            if t == "OrderFilled" and e["fill"]["account_id"] == ACCOUNT and e["fill"]["symbol"] == "GLD"
        ]
        assert bought, "acct_3 bought no GLD: the test proves nothing"
        # The download stops getting GLD's rows after Wednesday: its prices ended there, SPY's go on.
        gld.write_text("\n".join(line for line in kept.splitlines() if line[:10] <= "2026-01-07" or line[0] == "D"))
        at_alpaca.server.reset_paper_account(25_000.0)
        runs.invoke(["checkpoint", "12:00"], FRIDAY_NOON)
        assert [t for _, t, e in runs.events(name) if e.get("account_id") == ACCOUNT].count("BrokerAccountReset") == 1

        runs.invoke(["postmortem"], AFTER_THE_WEEK)
        board = json.loads(runs.invoke(["leaderboard", "--live", "--json"], AFTER_THE_WEEK))
    finally:
        gld.write_text(kept)

    [week] = [
        e["postmortem"]
        for _, t, e in runs.events(name)
        if t == "PostmortemWritten" and e["postmortem"]["account_id"] == ACCOUNT
    ]
    curve = {c["name"]: c for c in board["curves"]}[ACCOUNT]
    thursday = dict(zip(curve["sessions"], curve["equity"], strict=True))["2026-01-08"]
    shares = sum(f["qty"] if f["side"] == "buy" else -f["qty"] for f in bought)
    # The stretch to the reset ends at Thursday's close: GLD at its last close (Wednesday's, flat from Tuesday's), as
    # the leaderboard's curve marks it there, not at its cost 5% above.
    assert week["end_equity"] == pytest.approx(thursday, abs=0.05)
    assert week["end_equity"] == pytest.approx(100_000.0 - shares * tuesday_close * 0.05, abs=1.0)
    assert abs(shares * tuesday_close * 0.05) > 1.0  # what valuing GLD at its cost would have added
