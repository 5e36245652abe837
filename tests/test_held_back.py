"""A side change sent while the market is closed: its opening leg is held back until the close fills.
That is the design working, so the run reports the leg (result, WeekCompleted notes) but is NOT
degraded; an order the broker refuses still degrades it. Against the fake Alpaca (real alpaca-py)."""

from __future__ import annotations

import json

import psycopg
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent
from llmtrade.domain.reconciliation import PositionAdopted
from llmtrade.domain.streams import managed_stream
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from tests.crash_points import url_of
from tests.support import FIXED_NOW
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


def short(runs: Runs, name: str, alpaca: CountingAlpaca) -> None:  # noqa: F811
    """acct_1 holds -5 SPY that llmtrade opened (an earlier week): the week's long is a side change."""
    alpaca.server.set_position("SPY", -5, 600)
    adopted = PositionAdopted(account_id=ALPACA_ACCOUNT, symbol="SPY", qty=-5, avg_price=600, price=600)
    with open_storage(Settings(DATABASE_URL=url_of(runs.world.admin, name)), FixedClock(FIXED_NOW)) as storage:
        stream = managed_stream(ALPACA_ACCOUNT)
        storage.events.append([NewEvent.of(adopted, stream=stream, account_id=ALPACA_ACCOUNT)])


def flipped_week(runs: Runs, alpaca: CountingAlpaca) -> str:  # noqa: F811
    """A fresh database where acct_1 holds -5 SPY and run-weekly at 08:00 (market closed) decides a long:
    the close is queued at Alpaca and the opening leg held back. Returns the database's name."""
    state = alpaca.snapshot()
    primed = runs.primed()  # a run of its own: its orders reached the fake broker, which is put back
    alpaca.restore(state)
    name = runs.fresh(primed)
    short(runs, name, alpaca)
    with psycopg.connect(url_of(runs.world.admin, name)) as conn:
        # The primed copy of the cached bars leaves market_fetches' id sequence at 1: a later fetch
        # (the postmortem's) would reuse an id.
        conn.execute("SELECT setval(pg_get_serial_sequence('market_fetches', 'id'), max(id)) FROM market_fetches")
    return name


def held_back_note(note: str) -> bool:
    return f"account {ALPACA_ACCOUNT}'s open buy" in note and "SPY held back until its close" in note


def test_a_week_whose_only_undone_order_is_a_held_back_leg_is_not_degraded(runs: Runs, alpaca: CountingAlpaca) -> None:  # noqa: F811
    name = flipped_week(runs, alpaca)
    runs.monkeypatch.setenv("LLMTRADE_NOW", WEEKLY)
    first = runner.invoke(app, ["run-weekly", "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    assert report["degraded"] == []
    assert [n for n in report["held_back"] if held_back_note(n)] == report["held_back"] and report["held_back"]
    (done,) = [e for _, t, e in runs.events(name) if t == "WeekCompleted"]
    assert done["degraded"] is False and done["notes"] == report["held_back"]  # reported, not degraded
    finished = [e for _, t, e in runs.events(name) if t == "RunFinished"]
    assert finished[-1]["degraded"] is False

    text = runner.invoke(app, ["run-weekly"])  # the rerun (the leg is still undone) says so in the report
    assert text.exit_code == 0, text.output
    assert "HELD BACK: " in text.stdout and "DEGRADED" not in text.stdout

    alpaca.server.fill_open_orders()  # the open: the close fills, the rerun sends the leg
    runs.monkeypatch.setenv("LLMTRADE_NOW", OPENED)
    second = runner.invoke(app, ["run-weekly", "--json"])
    assert second.exit_code == 0, second.output
    again = json.loads(second.stdout)
    assert again["held_back"] == [] and again["degraded"] == []
    sent = [e for _, t, e in runs.events(name) if t == "OrderSubmitted" and e["order"]["account_id"] == ALPACA_ACCOUNT]
    assert [e["order"]["intent"] for e in sent] == ["close", "open"]


def test_a_checkpoint_with_a_leg_still_held_back_is_not_degraded(runs: Runs, alpaca: CountingAlpaca) -> None:  # noqa: F811
    name = flipped_week(runs, alpaca)
    runs.invoke(["run-weekly"], WEEKLY)
    runs.monkeypatch.setenv("LLMTRADE_NOW", MIDDAY)  # the close is still queued at the broker
    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["held_back"] and all(held_back_note(n) for n in report["held_back"])
    finished = [e for _, t, e in runs.events(name) if t == "RunFinished"]
    assert finished[-1]["degraded"] is False


def test_a_checkpoint_whose_resent_leg_is_refused_is_degraded(runs: Runs, alpaca: CountingAlpaca) -> None:  # noqa: F811
    name = flipped_week(runs, alpaca)
    runs.invoke(["run-weekly"], WEEKLY)
    alpaca.server.fill_open_orders()  # the close fills ...
    alpaca.server.fail_route("POST", "/v2/orders", 422)  # ... and the broker refuses the leg when it is sent
    runs.monkeypatch.setenv("LLMTRADE_NOW", MIDDAY)
    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["held_back"] == []
    refused = [e for _, t, e in runs.events(name) if t == "OrderRejected"]
    assert [e["order"]["intent"] for e in refused] == ["open"]
    finished = [e for _, t, e in runs.events(name) if t == "RunFinished"]
    assert finished[-1]["degraded"] is True


def test_a_leg_whose_close_never_fills_is_reported_by_the_weeks_postmortem(runs: Runs, alpaca: CountingAlpaca) -> None:  # noqa: F811
    flipped_week(runs, alpaca)
    runs.invoke(["run-weekly"], WEEKLY)  # the close stays queued all week: the leg is never sent
    runs.monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
    result = runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--json"])
    assert result.exit_code == 0, result.output
    never = json.loads(result.stdout)["never_sent"]
    assert len(never) == 1 and held_back_note(never[0])
