"""The chairman's account is looked at and valued (its week-start valuation recorded) before the chairman decides
(workflows/trading_stages.py RiskPrepStage); whether it may short the decided instrument is asked after. A broker that
does not answer that question holds the account (AccountWeekHeld) with its valuation already recorded. Held so all
week, the week was never planned: its postmortem has no row for it (not a row scored from last week's positions as if
it had traded), and says why, as for an account held before its look."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.brokers.paper import PaperBroker
from llmtrade.cli import app
from llmtrade.errors import BrokerUnavailable
from tests.support import going_live, stored_events
from tests.test_week_lifecycle import scripted, write_market

runner = CliRunner()
CHAIR = "acct_5"


def _chair_shorts(closes: dict[str, float]) -> Any:
    """The scripted week, the chairman deciding a short (conviction -1)."""
    answer = scripted(closes)

    def shorting(body: dict[str, Any]) -> dict[str, Any]:
        reply = answer(body)
        if body.get("response_format", {}).get("json_schema", {}).get("name") == "DecisionAnswer":
            content = json.loads(reply["choices"][0]["message"]["content"])
            reply["choices"][0]["message"]["content"] = json.dumps(content | {"conviction": -1})
        return reply

    return shorting


def _unanswered(self: PaperBroker, symbol: str) -> bool:
    """A broker stub: the chairman's broker does not answer whether it may short; the others do."""
    if self.account_id == CHAIR:
        raise BrokerUnavailable(f"{self.account_id}: the asset endpoint did not answer (HTTP 503)")
    return True


def test_a_chairman_held_after_its_valuation_and_never_planned_has_no_postmortem_row(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    closes = write_market(tmp_path / "csv")
    url = cli_env["DATABASE_URL"]
    monkeypatch.setattr(PaperBroker, "is_shortable", _unanswered)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    with going_live(monkeypatch, _chair_shorts(closes), market=tmp_path / "csv"):
        weekly = runner.invoke(app, ["run-weekly"])
        assert weekly.exit_code == 0, weekly.output
        held = [e.payload["account_id"] for e in stored_events(url, type="AccountWeekHeld")]
        assert held == [CHAIR], weekly.output
        valued = [e.payload for e in stored_events(url, type="AccountValued")]
        # The premise: valued before the decision, held after it.
        assert any(p["account_id"] == CHAIR and p["occasion"] == "week start" for p in valued)

        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")  # the week over, still held
        done = runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--json"])

    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    rows = {a["account_id"] for a in report["accounts"]}
    assert CHAIR not in rows and "acct_1" in rows, rows
    [said] = [n for n in report["without_rows"] if n.startswith(CHAIR)]
    assert "held back and never planned" in said and "its broker did not answer" in said, said
    assert said in done.stderr
