"""`leaderboard --versus` on the weeks after the models' knowledge cutoff: the paired weekly difference, its interval
and the weeks better and worse over the paired weeks after the later of the two books' splits are the headline, the
whole range (weeks the models may have read about included) kept beside it (analytics/paired_cutoff.py)."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta

import numpy as np
import pytest

from llmtrade.analytics import metrics
from llmtrade.analytics.paired import pairing
from llmtrade.analytics.records import ALL_BEFORE, Curve, Leaderboard, Period
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output
from llmtrade.market.calendar import TradingCalendar

SESSIONS = tuple(TradingCalendar().sessions_between(date(2026, 2, 3), date(2026, 5, 12)))
# Each session's return in the two books: a pattern of 7 so that the weeks differ from one another.
ON_DAILY = [0.004 * ((i * 3) % 7 - 3) / 3 for i in range(1, len(SESSIONS))]
OFF_DAILY = [0.003 * ((i * 5) % 7 - 3) / 3 for i in range(1, len(SESSIONS))]


def _equity(daily: list[float]) -> list[float]:
    return [100.0 * float(v) for v in np.concatenate([[1.0], np.cumprod(1 + np.array(daily))])]


def _board(name: str, daily: list[float], split: date | None = None, notes: tuple[str, ...] = ()) -> Leaderboard:
    equity = _equity(daily)
    curve = Curve(
        name="acct_1", kind="account", sessions=SESSIONS, equity=tuple(equity), gross_exposure=(0.0,) * len(equity)
    )
    periods = ()
    if split is not None:
        periods = (
            Period(label="before knowledge cutoff (m)", start=SESSIONS[0], end=split, standings=()),
            Period(label="after knowledge cutoff (m)", start=split, end=SESSIONS[-1], standings=()),
        )
    return Leaderboard(
        source=f"backtest {name}",
        start=SESSIONS[0],
        end=SESSIONS[-1],
        sessions=len(SESSIONS) - 1,
        trials=1,
        bootstrap="test",
        standings=(),
        curves=(curve,),
        periods=periods,
        notes=notes,
    )


def _weekly(equity: list[float]) -> dict[date, float]:
    """Each New York week's (Wednesday to Tuesday) return, close of the week before to its own last close, by the
    Wednesday it begins: grouped here by date arithmetic, not by analytics' week_ends."""
    wednesday = [day - timedelta(days=(day.weekday() - 2) % 7) for day in SESSIONS]
    last: dict[date, int] = {}
    for i in range(1, len(SESSIONS)):
        last[wednesday[i]] = i
    out, previous = {}, 0
    for week, end in last.items():
        out[week] = equity[end] / equity[previous] - 1
        previous = end
    return out


def _week_end_before(week_start: date) -> date:
    """The last session before the New York week beginning `week_start` (a Wednesday)."""
    return max(day for day in SESSIONS if day < week_start)


def test_the_headline_is_the_paired_weeks_after_the_later_split() -> None:
    """Memory on versus off over 14 weeks; one book's models' cutoff splits it after 2 weeks, the other's after 3: the
    paired difference over the 11 weeks after the later split is computed apart (numpy over the weekly returns), and
    the whole-range figures still count all 14."""
    weeks_on, weeks_off = _weekly(_equity(ON_DAILY)), _weekly(_equity(OFF_DAILY))
    starts = sorted(weeks_on)
    assert len(starts) == 14
    early, late = _week_end_before(starts[2]), _week_end_before(starts[3])
    paired = pairing(_board("on", ON_DAILY, split=early), _board("off", OFF_DAILY, split=late))
    [diff] = paired.differences
    after = [w for w in starts if w > late]
    a, b = np.array([weeks_on[w] for w in after]), np.array([weeks_off[w] for w in after])
    assert paired.after_cutoff_from == late and paired.after_cutoff_weeks == 11
    evidence = diff.after_cutoff
    assert evidence is not None and evidence.weeks == 11
    assert evidence.weekly.estimate == pytest.approx(float(np.mean(a - b)), abs=1e-12)
    assert (evidence.weeks_better, evidence.weeks_worse, evidence.weeks_tied) == (
        int(np.sum(a > b)),
        int(np.sum(a < b)),
        int(np.sum(a == b)),
    )
    # The interval is the bootstrap's over those 11 weekly differences (8 or more: one is given).
    expected = metrics.paired_mean_interval(list(a), list(b), minimum=8)
    assert evidence.weekly.low == pytest.approx(expected.low) and evidence.weekly.high == pytest.approx(expected.high)
    assert evidence.weekly.low is not None
    whole_a, whole_b = np.array(list(weeks_on.values())), np.array(list(weeks_off.values()))
    assert diff.weeks == 14 and diff.weekly.estimate == pytest.approx(float(np.mean(whole_a - whole_b)), abs=1e-12)
    assert diff.weekly.estimate != pytest.approx(evidence.weekly.estimate)
    [note] = [n for n in paired.notes if "knowledge cutoff" in n]
    assert note.startswith(f"3 of the 14 paired weeks are on or before the models' knowledge cutoff (to {late})")
    assert f"after the cutoff (from {late}, 11 paired weeks)" in note

    text = io.StringIO()
    board = _board("on", ON_DAILY, split=early).model_copy(update={"paired": paired})
    print_leaderboard(Output(stream=text, force_plain=True), board)
    shown = text.getvalue()
    assert f"after the models' knowledge cutoff (from the close of {late}): 11 paired weeks, the evidence" in shown
    assert "whole range, including weeks the models may have read about in training" in shown
    assert f"better {evidence.weeks_better}, worse {evidence.weeks_worse}, tied 0 of 11" in shown
    dumped = json.loads(board.model_dump_json())["paired"]
    assert dumped["after_cutoff_weeks"] == 11 and dumped["differences"][0]["after_cutoff"]["weeks"] == 11


def test_no_paired_week_after_the_cutoff_is_said_plainly() -> None:
    """A book wholly on or before its models' cutoff: no paired week is evidence, and no interval stands for one."""
    before = _board("off", OFF_DAILY, notes=(f"{ALL_BEFORE} (2026-06-30, m): ...",))
    paired = pairing(_board("on", ON_DAILY), before)
    [diff] = paired.differences
    assert paired.after_cutoff_weeks == 0 and diff.after_cutoff is None
    [note] = [n for n in paired.notes if "knowledge cutoff" in n]
    assert "no paired week is after the cutoff, so there is no evidence of skill here" in note
    text = io.StringIO()
    print_leaderboard(
        Output(stream=text, force_plain=True), _board("on", ON_DAILY).model_copy(update={"paired": paired})
    )
    assert "after the models' knowledge cutoff: no paired week, so no evidence of skill" in text.getvalue()


def test_books_of_no_split_keep_the_whole_range_as_before() -> None:
    paired = pairing(_board("on", ON_DAILY), _board("off", OFF_DAILY))
    assert paired.after_cutoff_weeks is None and paired.after_cutoff_from is None
    assert paired.differences[0].after_cutoff is None


def test_the_published_schema_names_the_after_cutoff_fields() -> None:
    from typer.testing import CliRunner

    from llmtrade.cli import app

    shown = CliRunner().invoke(app, ["schema", "leaderboard"])
    assert shown.exit_code == 0, shown.output
    document = json.loads(shown.stdout)
    pairing = document["$defs"]["Pairing"]["properties"]
    assert "after_cutoff_from" in pairing and "after_cutoff_weeks" in pairing
    assert "after_cutoff" in document["$defs"]["PairedDifference"]["properties"]
    assert set(document["$defs"]["PairedWeeks"]["properties"]) >= {"weeks", "weekly", "weeks_better", "weeks_worse"}
