"""The leaderboard's verdict: the answer the books are read for -- is any account told apart from FLAT? -- in one line
first, over the weeks that are evidence, with the multiple-comparison caveat where the best of several may be luck.

Before it, a reader of a year's backtest on real prices met the answer as the fifteenth note, and when an interval did
exclude 0 nothing said so but the table."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

from typer.testing import CliRunner

from llmtrade.analytics.records import ALL_BEFORE, Interval, Period, Standing
from llmtrade.app.board_verdict import verdict
from llmtrade.cli import app
from tests.test_report_html import standing

runner = CliRunner()


def _account(name: str, sharpe: tuple[float, float, float], excess: tuple[float, float, float], dsr: float) -> Standing:
    return standing(name, sharpe[0]).model_copy(
        update={
            "sharpe": Interval(estimate=sharpe[0], low=sharpe[1], high=sharpe[2]),
            "excess_vs_flat": Interval(estimate=excess[0], low=excess[1], high=excess[2]),
            "dsr": dsr,
            "sessions": 251,
        }
    )


UNDECIDED = _account("acct_1", (-0.96, -2.85, 1.21), (-0.012, -0.039, 0.014), 0.12)
BETTER = _account("acct_2", (2.10, 0.15, 4.02), (0.031, 0.002, 0.060), 0.62)
WORSE = _account("acct_3", (-2.40, -4.10, -0.30), (-0.045, -0.080, -0.004), 0.01)
SURE = _account("acct_4", (3.90, 1.90, 5.80), (0.090, 0.040, 0.140), 0.97)
FLAT = standing("FLAT", None)


def test_no_account_told_apart_says_so_over_the_whole_range() -> None:
    said = verdict([UNDECIDED, FLAT], (), (), trials=5)
    assert said == (
        "no account is told apart from FLAT over the whole range: every account's 95% intervals for its Sharpe ratio "
        "and its excess return over FLAT contain 0 (251 daily returns)"
    )


def test_an_account_told_better_is_named_with_its_intervals_and_the_deflated_sharpe_it_lacks() -> None:
    said = verdict([UNDECIDED, BETTER, FLAT], (), (), trials=5)
    assert said.startswith(
        "acct_2 told better than FLAT (Sharpe 2.10 [0.15, 4.02], vs FLAT +3.1%/yr [+0.2%, +6.0%]), but not once the "
        "5 accounts compared are allowed for (deflated Sharpe 62%, under 95%) over the whole range"
    ), said
    assert said.endswith("; 1 other account not told apart"), said


def test_told_worse_and_told_better_past_the_deflation_carry_no_caveat() -> None:
    said = verdict([WORSE, SURE], (), (), trials=5)
    assert "acct_3 told worse than FLAT (Sharpe -2.40 [-4.10, -0.30], vs FLAT -4.5%/yr [-8.0%, -0.4%])" in said
    assert "acct_4 told better than FLAT (Sharpe 3.90 [1.90, 5.80], vs FLAT +9.0%/yr [+4.0%, +14.0%])" in said
    assert "deflated" not in said and "other account" not in said, said


def test_books_split_at_the_cutoff_are_judged_on_the_weeks_after_it_only() -> None:
    before = Period(label="before", start=date(2024, 1, 2), end=date(2024, 6, 28), standings=(SURE, FLAT), closed=True)
    after = Period(label="after", start=date(2024, 6, 28), end=date(2024, 12, 31), standings=(UNDECIDED, FLAT))
    said = verdict([SURE, FLAT], (before, after), (), trials=5)
    # Told better over the whole range and before the cutoff, where the models may have read the future: not evidence.
    assert said.startswith("no account is told apart from FLAT after the knowledge cutoff (from 2024-06-28)"), said


def test_books_wholly_before_the_cutoff_have_no_evidence_either_way() -> None:
    said = verdict([SURE, FLAT], (), (f"{ALL_BEFORE} (2025-01-01, gpt-x): ...",), trials=5)
    assert said.startswith("no evidence either way: every week is on or before the models' knowledge cutoff"), said


def test_too_few_daily_returns_for_any_interval_says_how_many_there_are() -> None:
    young = standing("acct_1", 0.5).model_copy(
        update={"sharpe": Interval(estimate=None, low=None, high=None), "sessions": 12}
    )
    said = verdict([young, FLAT], (), (), trials=5)
    assert said == (
        "too early to tell any account from FLAT over the whole range: 12 daily returns, under the 20 an interval needs"
    )


def test_the_verdict_is_the_leaderboards_first_line_after_its_heading_in_its_json_and_on_the_report(
    wednesday_week: str, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    shown = runner.invoke(app, ["leaderboard"])
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    first = next(i for i, line in enumerate(lines) if not line.startswith("==") and not line.startswith("UNFINISHED"))
    assert lines[first].startswith("verdict: "), lines[:3]
    document = json.loads(runner.invoke(app, ["leaderboard", "--json"]).stdout)
    assert lines[first] == f"verdict: {document['verdict']}"
    page = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "-o", str(page)]).exit_code == 0
    found = re.search(r'<p class="verdict" id="verdict"><strong>Verdict:</strong> (.*?)</p>', page.read_text())
    assert found is not None and found.group(1) == document["verdict"].replace("'", "&#39;")
