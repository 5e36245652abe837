"""An account taken out of accounts.yaml while it holds a position is said by run-due, once, under -q: an
operator's trial removed acct_4 (and its PM) mid-week holding a short; every wake-up exited 0 without a word and the
short stayed open for good, no checkpoint judging it and no roll closing it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events

runner = CliRunner()


def _without_acct_4(folder: Path) -> Path:
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    accounts, models = folder / "accounts.yaml", folder / "models.yaml"
    accounts.write_text("\n".join(line for line in accounts.read_text().splitlines() if "id: acct_4" not in line))
    models.write_text("\n".join(line for line in models.read_text().splitlines() if "account: acct_4" not in line))
    return folder


def test_a_removed_account_still_holding_is_said_once_a_day(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # the week's run
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T10:01:00-05:00")
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0  # its orders filled at the open, recorded now
    held = {
        e.payload["fill"]["symbol"]
        for e in stored_events(wednesday_week, type="OrderFilled")
        if e.payload["fill"]["account_id"] == "acct_4"
    }
    assert held, "acct_4 bought nothing: the test proves nothing"
    config = _without_acct_4(tmp_path / "config")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
    woke = runner.invoke(app, ["--config", str(config), "-q", "run-due"])
    assert woke.exit_code == 0, woke.output
    [line] = [s for s in woke.stderr.splitlines() if s.startswith("acct_4 ")]
    assert f"acct_4 is not in accounts.yaml but its books hold {held.pop()} " in line
    assert "put the account back to have it managed" in line
    assert "a paper account's position exists only in these books" in line
    # status, which has no row for it, says it every time it is read (it was left out without a word).
    shown = runner.invoke(app, ["--config", str(config), "status", "--json"])
    assert shown.exit_code == 0, shown.output
    assert [w for w in json.loads(shown.stdout)["warnings"] if w.startswith("acct_4 is not in accounts.yaml")]
    assert (
        "acct_4 is not in accounts.yaml but its books hold"
        in runner.invoke(app, ["--config", str(config), "status"]).stderr
    )
    # Asked for by name, the account is not just "no account": what it holds and what to do (exit 2 all the same).
    listed = runner.invoke(app, ["--config", str(config), "positions", "list", "acct_4"])
    assert listed.exit_code == 2, listed.output
    assert "acct_4 is not in accounts.yaml but its books hold" in listed.output
    assert "put the account back to have it managed" in listed.output
    # Said once: no desk looks at the account any more, so nothing recorded would end a daily line.
    for at in ("2026-01-07T14:01", "2026-01-08T09:01"):
        monkeypatch.setenv("LLMTRADE_NOW", f"{at}:00-05:00")
        assert "acct_4" not in runner.invoke(app, ["--config", str(config), "-q", "run-due"]).output
    # With the account back (after the close: nothing due trades it) nothing is said; taken out again, said again.
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T17:00:00-05:00")
    assert "acct_4 is not in accounts.yaml" not in runner.invoke(app, ["-q", "run-due"]).output
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T17:05:00-05:00")
    back_out = runner.invoke(app, ["--config", str(config), "-q", "run-due"])
    assert "acct_4 is not in accounts.yaml" in back_out.stderr, back_out.output


def test_a_trade_made_by_hand_is_not_the_removed_accounts_holding(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The review of the first version: it folded every recorded fill, a trade made by hand at the broker among them,
    and told the operator to close a position llmtrade never held."""
    from datetime import UTC, datetime

    from llmtrade.clock import FixedClock
    from llmtrade.domain.events import NewEvent
    from llmtrade.domain.trading import Fill, OrderFilled, Side
    from llmtrade.settings import Settings
    from llmtrade.storage.bootstrap import open_storage

    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0
    by_hand = Fill(
        client_order_id="made-at-the-broker",
        account_id="acct_4",
        symbol="XLE",
        side=Side.BUY,
        qty=7,
        price=90.0,
        commission=0.0,
        filled_at=datetime(2026, 1, 7, 15, tzinfo=UTC),
    )
    with open_storage(Settings(), FixedClock(datetime(2026, 1, 7, 15, tzinfo=UTC))) as storage:
        event = NewEvent.of(OrderFilled(fill=by_hand, broker="paper"), stream="fills:acct_4:x", account_id="acct_4")
        storage.events.append([event])
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:01:00-05:00")
    woke = runner.invoke(app, ["--config", str(_without_acct_4(tmp_path / "config")), "-q", "run-due"])
    assert "XLE" not in woke.output
