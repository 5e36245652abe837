"""A paper order whose symbol's prices ended for good (its CSV file no longer written, a ticker delisted or renamed)
can never fill: it is expired, recorded with its reason, said, and waited for by nothing.

Before, it stayed queued for ever: every checkpoint skipped its account ("orders still queued"), and every weekly run
after waited on it (exit 75 at each wake-up, silent under -q), holding back every account's week.

The scripted week of tests/test_week_lifecycle.py on its CSV market: acct_3 buys GLD for Wednesday's open; here
GLD.csv stops at Tuesday, so that open never comes.
"""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from llmtrade.brokers.paper import PaperBroker
from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import packaged_defaults
from llmtrade.domain.trading import AccountSnapshot, Position
from llmtrade.market.calendar import TradingCalendar
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.workflows.roll_sizing import after_roll
from tests.support import stored_events
from tests.test_paper_broker import Opens
from tests.test_week_lifecycle import CHECKPOINT_ANSWERS, PITCHES, sync_intraday, week

__all__ = ["week"]

runner = CliRunner()


def _gld_ends_tuesday(folder: Path) -> None:
    path = folder / "GLD.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line for line in lines if line[:10] <= "2026-01-06" or line.startswith("Date")) + "\n")


def _gld_order(url: str) -> str:
    [sent] = [e for e in stored_events(url, type="OrderSubmitted") if e.payload["order"]["symbol"] == "GLD"]
    assert sent.account_id == "acct_3"
    return str(sent.payload["order"]["client_order_id"])


def test_a_queued_paper_order_whose_prices_ended_expires_and_its_account_is_judged(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    cid = _gld_order(url)
    _gld_ends_tuesday(tmp_path / "csv")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T12:00:00-05:00")  # Friday: GLD's Wednesday open never came
    result = runner.invoke(app, ["-q", "checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    by_account = {a["account_id"]: a for a in json.loads(result.stdout)["accounts"]}
    assert by_account["acct_3"]["skipped"] != "orders still queued for the open: nothing to judge yet"
    [ended] = [e for e in stored_events(url, type="QueuedOrderCanceled") if e.payload["client_order_id"] == cid]
    assert ended.payload["status"] == "rejected"
    assert ended.payload["reason"].startswith("expired unfilled: GLD has no opening price on 2026-01-07")
    assert "the last bar is 2026-01-06" in ended.payload["reason"]
    assert not [e for e in stored_events(url, type="OrderFilled") if e.payload["fill"]["client_order_id"] == cid]
    # Said, under -q too: which account, order, why, what to do.
    said = result.stderr
    assert "account acct_3's order" in said and cid in said and "expired unfilled: GLD" in said
    assert "positions release" in said
    # Recorded once: the next look writes nothing and says nothing.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T14:00:00-05:00")
    again = runner.invoke(app, ["-q", "checkpoint", "14:00", "--json"])
    assert again.exit_code == 0, again.output
    assert len([e for e in stored_events(url, type="QueuedOrderCanceled") if e.payload["client_order_id"] == cid]) == 1
    assert "expired unfilled" not in again.stderr


def test_its_lookup_says_what_its_event_and_its_note_say(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What the paper broker answers when asked for the order by its client_order_id (what a resumed run records as
    the order's result, and a halt's cancel reads): before, "canceled at <time>", where the run said it expired
    unfilled and its event recorded 'rejected' with why."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    cid = _gld_order(url)
    _gld_ends_tuesday(tmp_path / "csv")
    friday = "2026-01-09T12:00:00-05:00"
    monkeypatch.setenv("LLMTRADE_NOW", friday)
    assert runner.invoke(app, ["-q", "checkpoint", "12:00"]).exit_code == 0
    [ended] = [e for e in stored_events(url, type="QueuedOrderCanceled") if e.payload["client_order_id"] == cid]

    clock = FixedClock(datetime.fromisoformat(friday))
    with open_storage(Settings(DATABASE_URL=url), clock) as storage:
        broker = PaperBroker(
            "acct_3",
            starting_cash=100_000.0,
            events=storage.events,
            clock=clock,
            calendar=TradingCalendar(),
            prices=Opens({}),
        )
        found = broker.find(cid)

    assert found is not None
    assert (found.status.value, found.message) == (ended.payload["status"], ended.payload["reason"])


def test_the_next_weeks_run_is_not_held_back_by_it(week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    cid = _gld_order(url)
    _gld_ends_tuesday(tmp_path / "csv")
    _without_gld(monkeypatch, tmp_path)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    result = runner.invoke(app, ["-q", "run-weekly"])
    assert result.exit_code == 0, result.output
    assert "still has orders queued" not in result.output
    [ended] = [e for e in stored_events(url, type="QueuedOrderCanceled") if e.payload["client_order_id"] == cid]
    assert ended.payload["reason"].startswith("expired unfilled: GLD has no opening price on 2026-01-07")
    assert f"account acct_3's order open buy 73 GLD ({cid}) expired unfilled" in result.stderr
    assert "`llmtrade positions release acct_3 GLD`" in result.stderr
    assert stored_events(url, type="RunFinished")[-1].payload["degraded"] is True


def _without_gld(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The user takes GLD out of the universe, as its prices ended."""
    config = tmp_path / "config"
    shutil.copytree(Path(str(packaged_defaults())), config)
    assets = yaml.safe_load((config / "assets.yaml").read_text())
    assets["universe"] = [i for i in assets["universe"] if i["symbol"] != "GLD"]
    (config / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(config))


def _a_week_more_but_gld(folder: Path, days: tuple[int, ...] = (14, 15, 16, 20)) -> None:
    """Every file but GLD.csv (which stopped after Wednesday) gets January's `days`, flat (Monday 19th is Martin
    Luther King Day), its intraday file too."""
    for path in folder.glob("*.csv"):
        lines = path.read_text().splitlines()
        if path.stem == "GLD":
            path.write_text("\n".join(line for line in lines if line[:10] <= "2026-01-07" or line.startswith("Date")))
            continue
        close = lines[-1].split(",")[4]
        more = [f"2026-01-{d},{close},{close},{close},{close},1000000" for d in days]
        path.write_text("\n".join([*lines, *more]) + "\n")
    sync_intraday(folder)


def test_a_held_symbol_whose_prices_ended_is_not_rolled_into_an_order_that_could_never_fill(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The trial's case: acct_3 holds GLD; its file stops being written, the user takes it out of the universe. Before,
    the next week's roll queued GLD's close, which could never fill, and the week after waited on it for ever (exit 75
    at every wake-up), no account's week going on; and the roll sized acct_3's week with money from a sale that never
    came. Now no close is sent, the week is sized as still holding GLD, and the run says so."""
    _, url, _ = week
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _a_week_more_but_gld(tmp_path / "csv")
    _without_gld(monkeypatch, tmp_path)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    result = runner.invoke(app, ["-q", "run-weekly"])
    assert result.exit_code == 0, result.output
    assert "account acct_3 holds +" in result.stderr and " GLD, whose prices ended (" in result.stderr
    assert "the last bar is 2026-01-07" in result.stderr and "the week's roll sends no close of it" in result.stderr
    assert "`llmtrade positions release acct_3 GLD`" in result.stderr
    assert stored_events(url, type="RunFinished")[-1].payload["degraded"] is True
    assert not [e for e in stored_events(url, type="OrderSubmitted") if e.payload["order"]["symbol"] == "GLD"][1:]
    # The week after is not held back: every account's week goes on.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-21T08:00:00-05:00")
    again = runner.invoke(app, ["-q", "run-weekly"])
    assert again.exit_code == 0, again.output
    planned = {e.account_id for e in stored_events(url, type="OrdersPlanned") if e.week_id.isoformat() == "2026-01-21"}
    assert {"acct_1", "acct_2", "acct_3", "acct_4", "acct_5"} <= planned, planned
    # status still holds it, at its last close (as the leaderboard marks it), and says so and what to do
    status = runner.invoke(app, ["status", "--json"])
    report = json.loads(status.stdout)
    [acct_3] = [a for a in report["accounts"] if a["account_id"] == "acct_3"]
    assert [p["symbol"] for p in acct_3["positions"] if p["qty"]] == ["GLD"]
    assert report["at_last_close"] == {"GLD": "2026-01-07"}
    assert any(
        w.startswith("GLD valued at its last close (2026-01-07: ") and "(held by acct_3)" in w
        for w in report["warnings"]
    )
    # What the note says to do works: released, the next week's run says nothing of it.
    released = runner.invoke(app, ["positions", "release", "acct_3", "GLD"])
    assert released.exit_code == 0, released.output
    _a_week_more_but_gld(tmp_path / "csv", (21, 22, 23, 26, 27))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-28T08:00:00-05:00")
    result = runner.invoke(app, ["-q", "run-weekly"])
    assert result.exit_code == 0, result.output
    assert (
        "whose prices ended" not in result.stderr
    )  # (the postmortem of the week it was held says it at its last close)


def test_the_roll_sizes_the_week_without_money_from_a_position_it_cannot_sell() -> None:
    account = AccountSnapshot(
        account_id="acct_3",
        cash=10_000.0,
        equity=20_000.0,
        buying_power=10_000.0,
        positions={"GLD": Position(symbol="GLD", qty=50, avg_price=200.0)},
    )
    sold = after_roll(account, "SPY", {})
    assert sold.cash == 20_000.0 and not sold.positions
    kept = after_roll(account, "SPY", {}, {"GLD"})
    assert kept.cash == 10_000.0 and kept.buying_power == 10_000.0 and set(kept.positions) == {"GLD"}


def test_the_roll_sizes_an_unsold_position_whose_prices_ended_at_the_lower_of_its_cost_and_last_close() -> None:
    """The week start values an unsold GLD (at cost in the snapshot: no close this week) at its last close; the gate
    was sized from its cost at the same instant, lending the trade the money GLD had lost. A gain never realised
    (a last close above cost) is not lent either."""
    account = AccountSnapshot(
        account_id="acct_3",
        cash=10_000.0,
        equity=20_000.0,
        buying_power=10_000.0,
        positions={"GLD": Position(symbol="GLD", qty=50, avg_price=200.0)},
        at_cost=["GLD"],
    )
    fell = after_roll(account, "SPY", {}, {"GLD"}, {"GLD": 120.0})
    assert fell.equity == 10_000.0 + 50 * 120.0 and fell.buying_power == 10_000.0
    rose = after_roll(account, "SPY", {}, {"GLD"}, {"GLD": 260.0})
    assert rose.equity == 20_000.0 and rose.buying_power == 10_000.0
    # A short's lower value is at the higher price: its last close above its cost is the debt sized from.
    short = account.model_copy(
        update={"cash": 30_000.0, "positions": {"GLD": Position(symbol="GLD", qty=-50, avg_price=200.0)}}
    )
    assert after_roll(short, "SPY", {}, {"GLD"}, {"GLD": 260.0}).equity == 20_000.0 - 50 * 60.0
    assert after_roll(short, "SPY", {}, {"GLD"}, {"GLD": 120.0}).equity == 20_000.0


def _gld_ends_higher_and_iau_pitched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> float:
    """The week's run (acct_3 buys GLD at Wednesday's open); GLD's prices end at that day's close, 40% higher, and the
    user takes it out of the universe; the next week acct_3's owner pitches IAU (gold too): GLD's last close."""
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    _a_week_more_but_gld(tmp_path / "csv")
    path = tmp_path / "csv" / "GLD.csv"
    lines = path.read_text().splitlines()
    day, open_, _, low, _, volume = lines[-1].split(",")
    assert day == "2026-01-07"
    last = float(open_) * 1.4
    path.write_text("\n".join([*lines[:-1], f"{day},{open_},{last},{low},{last},{volume}"]) + "\n")
    sync_intraday(tmp_path / "csv")
    _without_gld(monkeypatch, tmp_path)
    monkeypatch.setitem(PITCHES, "anthropic/claude-sonnet-4.5", ("IAU", 2))
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    return last


def test_the_roll_gives_the_gate_the_last_close_of_a_position_it_keeps_unsold(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """acct_3's GLD (gold), its prices ended at Wednesday 7th's close, 40% over what it was bought at that open, is kept
    unsold by the next week's roll, and acct_3 pitches IAU (gold too): the gate is given GLD's last close, so its
    exposure in the class is counted at the larger of that close and its cost (risk/stale.py), said in the verdict.
    Before, at its cost alone, the class had room for IAU that the last close leaves less of (the equity already
    counts the lower of the two: `after_roll`)."""
    _, url, _ = week
    last = _gld_ends_higher_and_iau_pitched(monkeypatch, tmp_path)
    from llmtrade.workflows import week_gate

    given: dict[str, dict[str, Any]] = {}
    check = week_gate.risk.check

    def spy(intent: Any, *args: Any, **kwargs: Any) -> Any:
        given.setdefault(intent.account_id, kwargs)  # the week gate's call, not the gate's own calls within
        return check(intent, *args, **kwargs)

    monkeypatch.setattr(week_gate.risk, "check", spy)
    result = runner.invoke(app, ["-q", "run-weekly"])
    assert result.exit_code == 0, result.output
    assert given["acct_3"].get("ended_closes") == {"GLD": pytest.approx(last)}, given["acct_3"]
    assert not given["acct_1"].get("ended_closes"), given["acct_1"]
    [verdict] = [
        e.payload["verdict"]
        for e in stored_events(url, type="RiskChecked")
        if e.account_id == "acct_3" and e.week_id.isoformat() == "2026-01-14"
    ]
    assert verdict["instrument"] == "IAU" and "GLD (+" in verdict["reason"], verdict
    assert "is valued at its last close" in verdict["reason"] and "its prices ended" in verdict["reason"], verdict
    assert "stale_price" in [a["rule"] for a in verdict["adjustments"]], verdict


def test_a_checkpoints_flip_counts_a_position_whose_prices_ended_at_the_careful_value(
    week: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """acct_3 holds IAU, the week's trade, and GLD, kept unsold (its prices ended at a close 40% over its cost); at
    Wednesday's 12:00 checkpoint its owner FLIPs IAU. The short is sized from the account as the week's roll sizes it
    (workflows/roll_sizing.py): GLD at the lower of cost and last close in equity, the larger in the gold class. It was
    sized with GLD at its cost in both (the checkpoint's gate had no word of GLD's last close)."""
    _gld_ends_higher_and_iau_pitched(monkeypatch, tmp_path)
    assert runner.invoke(app, ["-q", "run-weekly"]).exit_code == 0
    flip = {"action": "FLIP", "conviction_after": -1, "reason_delta": "gold turned"}
    monkeypatch.setitem(CHECKPOINT_ANSWERS, "anthropic/claude-sonnet-4.5", flip)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T12:00:00-05:00")
    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    [acct_3] = [a for a in json.loads(result.stdout)["accounts"] if a["account_id"] == "acct_3"]
    assert acct_3["checkpoint"]["action"] == "FLIP", acct_3
    verdict = acct_3["verdict"]
    assert verdict["target_qty"] < 0 and "GLD (+" in verdict["reason"], verdict
    assert "is valued at its last close" in verdict["reason"], verdict
    assert "stale_price" in [a["rule"] for a in verdict["adjustments"]], verdict
