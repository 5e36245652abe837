"""A checkpoint with a symbol of the universe left without a price now (here a print far from the last close,
refused as a bad one: market/quote_checks.py) judges every account that holds nothing unpriced. The scripted week
of tests/test_week_lifecycle.py, on a real PostgreSQL: acct_1 and acct_5 hold SPY, whose frozen stop fires at noon;
acct_2 holds TLT, acct_3 GLD, acct_4 QQQ.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.workflows.checkpoint_trade import DecideStage, ExecuteStage
from tests.support import stored_events
from tests.test_checkpoint_stages import _killed
from tests.test_event_checkpoint import _intraday
from tests.test_week_lifecycle import CHECKPOINT_ANSWERS, CONFIG, week  # noqa: F401 (the fixture)

runner = CliRunner()
HELD = {"SPY", "TLT", "GLD", "QQQ"}
NOON = "2026-01-07T12:00:00-05:00"


def _noon_with_a_bad_print(
    monkeypatch: pytest.MonkeyPatch, folder: Path, closes: dict[str, float], symbol: str
) -> None:
    """The weekly run at 08:00, then noon with `symbol`'s only intraday price at 0.56x its last close, all day."""
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", NOON)
    _intraday(folder, symbol, closes[symbol], [("09:30", 0.56)])


def _noon_killed_in(monkeypatch: pytest.MonkeyPatch, stage: type) -> None:
    """The weekly run at 08:00, then the noon checkpoint killed as `stage` starts."""
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    monkeypatch.setenv("LLMTRADE_NOW", NOON)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(stage, "run", _killed)
        assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code != 0


def _asked(fake: Any, since: int) -> list[str]:
    return sorted(
        r["model"]
        for r in fake.requests[since:]
        if r.get("response_format", {}).get("json_schema", {}).get("name") == "CheckpointDecision"
    )


def _judged(url: str) -> dict[str, str]:
    """Each account's stored noon checkpoint: its action, or "skipped"."""
    found = {e.account_id: e.payload["checkpoint"]["action"] for e in stored_events(url, type="CheckpointTaken")}
    return found | {e.account_id: "skipped" for e in stored_events(url, type="CheckpointSkipped")}


def test_a_refused_price_of_a_symbol_nobody_holds_keeps_no_account_from_being_judged(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fake, url, closes = week
    nobody = next(s for s in CONFIG.assets.symbols if s not in HELD)
    _noon_with_a_bad_print(monkeypatch, tmp_path / "csv", closes, nobody)
    since = len(fake.requests)
    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    by_account = {a["account_id"]: a for a in json.loads(result.stdout)["accounts"]}
    assert by_account["acct_1"]["checkpoint"]["action"] == "EXIT"  # the stop fired
    assert by_account["acct_1"]["checkpoint"]["decided_by"] == "invalidation_rule"
    assert [o["symbol"] for o in by_account["acct_1"]["orders"]] == ["SPY"]
    assert _asked(fake, since) == sorted(CHECKPOINT_ANSWERS)
    [refused] = [e for e in stored_events(url, type="QuoteRefused") if e.payload["symbols"] == [nobody]]
    assert refused.payload["reason"] == "suspect"
    assert len(stored_events(url, type="CheckpointCompleted")) == 1


def test_a_held_symbols_refused_price_defers_that_account_alone_and_the_rerun_judges_it_once(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fake, url, closes = week
    _noon_with_a_bad_print(monkeypatch, tmp_path / "csv", closes, "TLT")  # acct_2's
    since = len(fake.requests)
    result = runner.invoke(app, ["checkpoint", "12:00"])
    assert result.exit_code == 75, result.output
    said = [line for line in result.output.splitlines() if "acct_2" in line]
    assert len(said) == 1 and "acct_2: TLT" in said[0] and "bad print" in said[0], result.output
    # No deadline turns the wait into a skip: the user is told until when a rerun judges it, and no stop is checked.
    assert "A rerun judges these until 2026-01-07T" in said[0] and "then the next scheduled checkpoint" in said[0]
    assert "none of their stops is checked and nothing of theirs is traded" in said[0]
    judged = _judged(url)
    assert "acct_2" not in judged  # nothing stored for it: not judged, not skipped
    assert judged["acct_1"] == judged["acct_5"] == "EXIT" and judged["acct_6"] == "skipped"
    assert {"acct_3", "acct_4"} <= judged.keys()
    assert _asked(fake, since) == sorted(m for m in CHECKPOINT_ANSWERS if m != "google/gemini-3-pro-preview")
    # The others' orders went out: acct_1's stop sold its SPY.
    orders = stored_events(url, type="OrderSubmitted")
    sent = {e.account_id for e in orders if "T1200" in e.payload["order"]["client_order_id"]}
    assert {"acct_1", "acct_5", "acct_3"} <= sent and "acct_2" not in sent
    [deferred] = stored_events(url, type="StageDeferred")
    assert deferred.payload["waiting"] == ["acct_2"]
    assert not stored_events(url, type="CheckpointCompleted")

    _intraday(tmp_path / "csv", "TLT", closes["TLT"], [])  # the provider prices TLT again
    since = len(fake.requests)
    rerun = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert rerun.exit_code == 0, rerun.output
    assert _asked(fake, since) == ["google/gemini-3-pro-preview"]  # acct_2's owner alone
    judged = _judged(url)
    assert judged["acct_2"] == "FLIP"
    assert len(stored_events(url, type="CheckpointTaken")) == 5  # acct_1..acct_5, each once
    assert len(stored_events(url, type="CheckpointCompleted")) == 1


def test_an_account_judged_before_a_crash_is_not_decided_at_a_price_that_is_not_there(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    _, url, closes = week
    _noon_killed_in(monkeypatch, DecideStage)  # every account judged, none decided
    _intraday(tmp_path / "csv", "TLT", closes["TLT"], [("09:30", 0.56)])  # then acct_2's TLT has no price
    resumed = runner.invoke(app, ["checkpoint", "12:00"])
    assert resumed.exit_code == 75, resumed.output
    assert "acct_2: TLT (no price now)" in resumed.output
    decided = {e.account_id for e in stored_events(url, type="RiskChecked") if ":checkpoint:" in e.stream}
    assert {"acct_1", "acct_3", "acct_5"} <= decided and "acct_2" not in decided
    assert not stored_events(url, type="CheckpointCompleted")

    _intraday(tmp_path / "csv", "TLT", closes["TLT"], [])
    done = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert done.exit_code == 0, done.output
    by_account = {a["account_id"]: a for a in json.loads(done.stdout)["accounts"]}
    assert by_account["acct_2"]["checkpoint"]["action"] == "FLIP" and by_account["acct_2"]["orders"]
    assert len(stored_events(url, type="CheckpointCompleted")) == 1


def _noon_orders(url: str) -> list[tuple[str, str]]:
    """(account, client order id) of every noon order submitted, in order, repeats kept."""
    orders = stored_events(url, type="OrderSubmitted")
    return [
        (e.account_id, e.payload["order"]["client_order_id"])
        for e in orders
        if "T1200" in e.payload["order"]["client_order_id"]
    ]


def test_an_account_decided_before_a_crash_waits_for_its_price_to_send_and_sends_once(
    week: Any,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """Decided, then killed before sending: the rerun with acct_2's TLT unpriced sent the others' orders (in
    parallel) and failed on acct_2's ('error: stage 'execute' failed: no quote provider has a current price for TLT'),
    a RunFailed naming no account and no StageDeferred. Now acct_2 waits as an undecided account does (exit 75 naming
    it), and the rerun with a price sends acct_2's orders; every order once."""
    _, url, closes = week
    _noon_killed_in(monkeypatch, ExecuteStage)  # every account judged and decided, nothing sent
    assert not _noon_orders(url)
    _intraday(tmp_path / "csv", "TLT", closes["TLT"], [("09:30", 0.56)])  # then acct_2's TLT has no price
    waiting = runner.invoke(app, ["checkpoint", "12:00"])
    assert waiting.exit_code == 75, waiting.output
    assert "acct_2: TLT (no price now)" in waiting.output
    sent = {account for account, _ in _noon_orders(url)}
    assert {"acct_1", "acct_3", "acct_5"} <= sent and "acct_2" not in sent
    [deferred] = stored_events(url, type="StageDeferred")
    assert deferred.payload["waiting"] == ["acct_2"]

    _intraday(tmp_path / "csv", "TLT", closes["TLT"], [])
    done = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert done.exit_code == 0, done.output
    assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code == 0  # a repeat sends nothing again
    orders = _noon_orders(url)
    assert len(orders) == len(set(orders))
    assert [a for a, _ in orders].count("acct_2") == 2  # its FLIP: the TLT sold, then bought short
    assert len(stored_events(url, type="CheckpointCompleted")) == 1
