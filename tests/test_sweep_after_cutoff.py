"""A sweep's table ranks each run on its evidence: the weeks after its models' knowledge cutoff, as its own leaderboard
split them (its periods); a run wholly on or before its cutoff has no evidence row and ranks after the rest; the
whole range stays in `standing` and a second table (sweep/board.py, sweep/board_cutoff.py)."""

from __future__ import annotations

import io
import statistics
from datetime import date, timedelta

import numpy as np
import pytest

from llmtrade.analytics import curves
from llmtrade.analytics.records import ALL_BEFORE, Curve, Leaderboard, Period
from llmtrade.analytics.standings import deflated, standings
from llmtrade.commands.sweep import print_sweep
from llmtrade.console import Output
from llmtrade.domain.sweeps import SweepRunFinished
from llmtrade.sweep.board import sweep_leaderboard
from llmtrade.sweep.report import render
from llmtrade.sweep.results import SweepResult

N = 60
SPLIT = 20  # the close the periods share: the last before the first week after the cutoff
DAYS = tuple(date(2026, 1, 5) + timedelta(days=i) for i in range(N + 1))
BEFORE = f"{ALL_BEFORE} (2026-06-30, pm_1 (x/m)): the models may have read this future in training, so ..."


def _equity(before: float, after: float, swing: float) -> list[float]:
    """acct_1's closes: `before` a session to SPLIT, `after` a session then, `swing` up and down around it."""
    equity = [10_000.0]
    for i in range(N):
        drift = before if i < SPLIT else after
        equity.append(equity[-1] * (1 + drift + (swing if i % 2 else -swing)))
    return equity


def _run(run_id: str, equity: list[float], *, split: bool = False, notes: tuple[str, ...] = ()) -> SweepRunFinished:
    curve = Curve(name="acct_1", kind="account", sessions=DAYS, equity=tuple(equity), gross_exposure=(0.5,) * (N + 1))
    track = curves.Track(
        curve=curve,
        trades=(0,) * N + (4,),
        wins=(0,) * N + (2,),
        costs_usd=(0.0,) * N + (1.0,),
        traded_usd=(0.0,) * N + (1_000.0,),
        bought_usd=(0.0,) * N + (500.0,),
        sold_usd=(0.0,) * N + (500.0,),
    )
    [row] = standings([track], trials=1, trial_names={"acct_1"})
    periods = ()
    if split:  # as app/cutoff_periods.py builds them: each period's standings over its own span
        spans = [("before knowledge cutoff 2026-01-22 (m): the models may have read", 0, SPLIT)]
        spans.append(("after knowledge cutoff 2026-01-22 (m)", SPLIT, N))
        periods = tuple(
            Period(
                label=label,
                start=DAYS[a],
                end=DAYS[b],
                standings=tuple(standings([track.between(a, b, by_opening=True)], trials=1, trial_names={"acct_1"})),
            )
            for label, a, b in spans
        )
    board = Leaderboard(
        source=f"backtest s-{run_id}", start=DAYS[0], end=DAYS[-1], sessions=N, trials=1, bootstrap="b",
        standings=(row,), curves=(curve,), periods=periods, notes=notes,
    )  # fmt: skip
    return SweepRunFinished(
        run_id=run_id, backtest=f"s-{run_id}", label=f"overrides={run_id}", axes={}, start=DAYS[0], end=DAYS[-1],
        attempt=1, trial_accounts=["acct_1"], leaderboard=board.model_dump(mode="json"),
    )  # fmt: skip


EQUITY = {
    "a": _equity(0.01, -0.001, 0.004),  # a soaring start the models may have read about, then losses
    "b": _equity(0.0005, 0.001, 0.004),
    "c": _equity(0.0003, 0.0003, 0.004),  # no split: wholly after its cutoff (or none known)
    "d": _equity(0.02, 0.02, 0.004),  # wholly on or before its models' cutoff: the best whole range, no evidence
}


def _runs() -> dict[str, SweepRunFinished]:
    return {
        "a": _run("a", EQUITY["a"], split=True),
        "b": _run("b", EQUITY["b"], split=True),
        "c": _run("c", EQUITY["c"]),
        "d": _run("d", EQUITY["d"], notes=(BEFORE,)),
    }


def _returns(equity: list[float]) -> np.ndarray:
    values = np.array(equity)
    return values[1:] / values[:-1] - 1


def _sharpe(returns: np.ndarray) -> float:
    return float(np.mean(returns) / np.std(returns, ddof=1) * np.sqrt(252))


def test_rows_rank_on_the_weeks_after_the_cutoff_and_a_run_wholly_before_it_has_none() -> None:
    """Ranked on their whole ranges, d (every week one its models may have read about) and a (a soaring start before
    the cutoff, losses after) topped the table; on the weeks after the cutoff, b leads, then c, then a, and d has no
    evidence row."""
    board = sweep_leaderboard("s", ["a", "b", "c", "d"], 4, _runs())
    assert [row.backtest for row in board.rows] == ["s-b", "s-c", "s-a", "s-d"]
    rows = {row.backtest[2:]: row for row in board.rows}
    after = {k: _returns(EQUITY[k][SPLIT:]) for k in ("a", "b")}
    evidence = {**after, "c": _returns(EQUITY["c"])}
    spread = statistics.variance(
        [float(np.mean(r) / np.std(r, ddof=1)) for r in evidence.values()]
    )  # the trials with evidence: the DSR's dispersion over the same weeks as the figures it deflates
    for key, returns in evidence.items():
        row = rows[key]
        assert row.evidence is not None
        assert row.evidence.sharpe.estimate == pytest.approx(_sharpe(returns), rel=1e-9)
        assert row.evidence.sessions == len(returns)
        assert row.evidence.dsr == pytest.approx(deflated(list(returns), 4, spread), rel=1e-9)
    for key in ("a", "b"):
        eq = EQUITY[key]
        assert rows[key].evidence_span == "after_cutoff" and rows[key].evidence_from == DAYS[SPLIT]
        assert rows[key].evidence.total_return == pytest.approx(eq[-1] / eq[SPLIT] - 1, rel=1e-9)
    assert rows["c"].evidence_span == "whole_range" and rows["c"].evidence_from is None
    # The whole range is kept: `standing` is as before, every session, d's included.
    for key in "abcd":
        assert rows[key].standing.sharpe.estimate == pytest.approx(_sharpe(_returns(EQUITY[key])), rel=1e-9)
    assert rows["d"].evidence is None and rows["d"].evidence_span == "none"
    [note] = [n for n in board.notes if "knowledge cutoff" in n]
    assert "ranks each run on its weeks after its models' knowledge cutoff" in note
    assert "overrides=a (from 2026-01-25)" in note and "overrides=b (from 2026-01-25)" in note
    assert "1 run is wholly on or before its models' knowledge cutoff, no evidence, ranked last: overrides=d" in note

    result = SweepResult(
        name="s", database="db", executor="serial", workers=1, runs=[], finished=4, failed=0, leaderboard=board,
        seconds=1.0,
    )  # fmt: skip
    text = io.StringIO()
    print_sweep(Output(stream=text, force_plain=True), result)
    lines = text.getvalue().splitlines()
    ranked = lines.index(next(line for line in lines if line.startswith("# leaderboard")))
    assert "weeks after each run's models' knowledge cutoff" in lines[ranked]
    first = dict(zip(lines[ranked + 1].split("\t"), lines[ranked + 2].split("\t"), strict=True))
    assert first["run"] == "overrides=b" and first["weeks ranked"] == f"after {DAYS[SPLIT]}"
    assert first["Sharpe"] == f"{_sharpe(after['b']):.2f}"
    last = dict(zip(lines[ranked + 1].split("\t"), lines[ranked + 5].split("\t"), strict=True))
    assert last["run"] == "overrides=d" and last["Sharpe"] == "n/a" and last["weeks ranked"].startswith("none")
    whole = next(line for line in lines if line.startswith("# whole ranges"))
    assert "including weeks the models may have read about in training" in whole

    page = render(board, [])
    assert "Leaderboard: the weeks after each run's models' knowledge cutoff" in page
    table = page[page.index("<h2>Leaderboard") :]
    assert table.index("overrides=b") < table.index("overrides=c") < table.index("overrides=a")
    assert table.index("overrides=a") < table.index("overrides=d") < table.index("Whole ranges")
    assert "Whole ranges" in page


def test_a_sweep_of_no_cutoff_split_ranks_as_before() -> None:
    runs = {"c": _run("c", EQUITY["c"]), "e": _run("e", _equity(0.001, 0.001, 0.004))}
    board = sweep_leaderboard("s", ["c", "e"], 2, runs)
    assert [row.backtest for row in board.rows] == ["s-e", "s-c"]
    for row in board.rows:
        assert row.evidence == row.standing and row.evidence_span == "whole_range"
    assert not any("knowledge cutoff" in n for n in board.notes)


def test_the_published_schema_names_the_evidence_fields() -> None:
    import json

    from typer.testing import CliRunner

    from llmtrade.cli import app

    shown = CliRunner().invoke(app, ["schema", "backtest", "sweep"])
    assert shown.exit_code == 0, shown.output
    row = json.loads(shown.stdout)["$defs"]["SweepRow"]["properties"]
    assert {"standing", "evidence", "evidence_span", "evidence_from"} <= set(row)
    assert "whole range" in row["standing"]["description"]
