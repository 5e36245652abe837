"""The offline rules provider's answers are no model's: counted apart from model calls (live or replayed) in a run's
usage, its footer, a backtest's result and progress, and status."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from llmtrade.app.results import Usage
from llmtrade.cli import app
from llmtrade.commands.backtest import _calls
from llmtrade.commands.render.common import calls_text
from llmtrade.llm.records import FREE, UsageTotals
from llmtrade.llm.types import Usage as CallUsage
from tests.support import going_live

runner = CliRunner()


def test_a_runs_usage_counts_rules_answers_apart_from_model_calls() -> None:
    totals = UsageTotals()
    totals.add("m/x", CallUsage(prompt_tokens=100, completion_tokens=50, cost_usd=0.01))  # live
    totals.add("m/x", CallUsage(prompt_tokens=100, completion_tokens=50, cost_usd=0.0))  # replayed from the cache
    for _ in range(3):
        totals.add("m/x", FREE, rules=True)
    # Every answer asked, as RunFinished.llm_calls has always stored it ...
    assert (totals.calls, totals.rules) == (5, 3)
    usage = Usage.of(totals)
    # ... and, for the reader, the two model calls and the three rules answers.
    assert (usage.calls, usage.rules_answers, usage.cost_usd) == (2, 3, 0.01)


def test_the_footer_and_the_progress_say_what_the_rules_answers_are() -> None:
    assert calls_text(2, 0) == "2"
    assert calls_text(0, 68) == "0 (and 68 offline rules answers: no model, $0)"
    # status gives the cost: once, beside the calls it is of (it read "... no model, $0) ($0.0000)", two costs).
    said = calls_text(0, 19, 0.0)
    assert said == "0 ($0.0000), and 19 offline rules answers (no model, no cost)"
    assert said.count("$") == 1
    assert calls_text(2, 0, 0.0123) == "2 ($0.0123)"
    assert _calls(0, 0) == "0 model calls"
    assert _calls(3, 68) == "3 model calls, 68 offline rules answers"


def test_the_stage_lines_count_model_calls_as_the_footer_does(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """An offline run's stage lines said "(12 model calls)" above a footer of "model calls: 0 (and 19 offline rules
    answers)" (found by the new-user trial): they count the requests sent to providers (trial L: counting answers
    said 3 of a stage that sent 5), so an offline run's stage lines say none."""
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    offline = runner.invoke(app, ["run-weekly"])
    assert offline.exit_code == 0, offline.output
    assert "peer_review: completed in" in offline.stderr and "model requests)" not in offline.stderr
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T08:00:00-05:00")
    with going_live(monkeypatch) as fake:
        live = runner.invoke(app, ["run-weekly"])
    assert live.exit_code == 0, live.output
    staged = [int(n) for n in re.findall(r"\((\d+) model requests\)", live.stderr)]
    [footer] = [int(n) for n in re.findall(r"^model calls: (\d+)", live.stdout, re.MULTILINE)]
    # A clean run sends one request per answer: what the stage lines count is within what the footer counts.
    assert staged and 0 < sum(staged) <= footer <= len(fake.requests)
