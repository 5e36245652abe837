"""What `backtest sweep` says of runs it did not run now: one an earlier invocation finished read 'resumed' with 0
attempts, as if picked up and not tried (the table now says 'done earlier', and --json 'done_earlier'); and a sweep
whose every run failed said 'trials = 10: the PM and chairman accounts of all 2 runs of the sweep' above an empty
table, as if they had been ranked."""

from __future__ import annotations

import re

import pytest

from llmtrade.commands.sweep import print_sweep
from llmtrade.console import Output
from llmtrade.sweep.board import sweep_leaderboard
from llmtrade.sweep.results import SweepResult, SweepRun


def _result(runs: list[SweepRun]) -> SweepResult:
    failed = sum(r.status == "failed" for r in runs)
    board = sweep_leaderboard("s", [r.run_id for r in runs], 10, {}, **({"failed": failed} if failed else {}))
    return SweepResult(
        name="s", database="llmtrade_sw_s", executor="serial", workers=1, runs=runs, finished=len(runs) - failed,
        failed=failed, leaderboard=board, seconds=1.0,
    )  # fmt: skip


def test_a_run_finished_by_an_earlier_sweep_is_said_done_earlier(capsys: pytest.CaptureFixture[str]) -> None:
    earlier = SweepRun(run_id="a", backtest="s-a", label="memory=on", status="done_earlier", attempts=0)
    now = SweepRun(run_id="b", backtest="s-b", label="memory=off", status="finished", attempts=1, seconds=2.5)
    print_sweep(Output(), _result([earlier, now]))
    rows = {line.split("\t")[0]: line.split("\t")[1:] for line in capsys.readouterr().out.splitlines()}
    assert rows["s-a"] == ["memory=on", "done earlier", "", ""]
    assert rows["s-b"] == ["memory=off", "finished", "1", "2.5"]
    # --json says the same as the table: 'resumed' (kept before for scripts) read as a run picked up now.
    assert earlier.model_dump()["status"] == "done_earlier"
    schema = SweepRun.model_json_schema()["properties"]["status"]
    assert schema["enum"] == ["finished", "done_earlier", "failed"], schema


def test_a_sweep_whose_every_run_failed_says_how_many_ran_and_failed() -> None:
    runs = [
        SweepRun(run_id=x, backtest=f"s-{x}", label=x, status="failed", attempts=1, error="MarketDataError: ...")
        for x in "ab"
    ]
    notes = _result(runs).leaderboard.notes
    assert notes[0] == (
        "0 of the 2 runs finished (2 failed): no row to rank (trials = 10: the PM and chairman accounts of all 2 runs "
        "of the sweep)"
    )
    assert not any(n.startswith("trials = ") for n in notes)
    some = sweep_leaderboard("s", ["a", "b", "c"], 15, {}, failed=1).notes[0]
    assert some.startswith("0 of the 3 runs finished (1 failed, 2 not run)")


def test_a_sweep_with_some_runs_failed_says_trials_count_them_too() -> None:
    from llmtrade.sweep.board import _trials_note

    assert _trials_note(15, 3, 2, 1) == (
        "trials = 15: the PM and chairman accounts of all 3 runs of the sweep, though only 2 finished (1 failed: a "
        "configuration tried counts all the same); the deflated Sharpe assumes the best of that many was picked"
    )
    assert _trials_note(15, 3, 3, 0).startswith("trials = 15: the PM and chairman accounts of all 3 runs of the sweep;")


def test_the_sweeps_table_and_page_give_each_rows_trades_exposure_and_costs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The sweep ranked its rows by Sharpe ratio with no trade count, exposure or cost beside them (the page had the
    trades alone): a ratio earned on 1.3% of the account read as well as one on 5.2%. Each row now carries its run's
    trades, average gross exposure, commissions and slippage, in the table and in `report --sweep`'s page."""
    from datetime import date, timedelta

    from llmtrade.analytics import curves
    from llmtrade.analytics.records import TURNOVER_NOTE, Curve, Leaderboard
    from llmtrade.analytics.standings import standings
    from llmtrade.domain.sweeps import SweepRunFinished
    from llmtrade.sweep.report import render

    n = 30
    days = tuple(date(2026, 1, 5) + timedelta(days=i) for i in range(n + 1))
    equity = tuple(10_000.0 * (1 + 0.001 * ((i % 3) - 0.8)) ** i for i in range(n + 1))
    curve = Curve(name="acct_1", kind="account", sessions=days, equity=equity, gross_exposure=(0.013,) * (n + 1))
    track = curves.Track(
        curve=curve,
        trades=(0,) * n + (7,),
        wins=(0,) * n + (3,),
        costs_usd=(0.0,) * n + (2.5,),
        traded_usd=(0.0,) * n + (68_900.0,),
        bought_usd=(0.0,) * n + (34_450.0,),
        sold_usd=(0.0,) * n + (34_450.0,),
    )
    [row] = standings([track], trials=1, trial_names={"acct_1"})
    row = row.model_copy(update={"slippage_usd": 34.45})
    board = Leaderboard(
        source="backtest s-a", start=days[0], end=days[-1], sessions=n, trials=1, bootstrap="b", standings=(row,),
        curves=(curve,), notes=(TURNOVER_NOTE,),
    )  # fmt: skip
    run = SweepRunFinished(
        run_id="a", backtest="s-a", label="overrides=tight", axes={}, start=days[0], end=days[-1], attempt=1,
        trial_accounts=["acct_1"], leaderboard=board.model_dump(mode="json"),
    )  # fmt: skip
    sweep = sweep_leaderboard("s", ["a"], 5, {"a": run})
    done = SweepRun(run_id="a", backtest="s-a", label="overrides=tight", status="finished", attempts=1, seconds=1.0)
    result = SweepResult(
        name="s", database="llmtrade_sw_s", executor="serial", workers=1, runs=[done], finished=1, failed=0,
        leaderboard=sweep, seconds=1.0,
    )  # fmt: skip
    print_sweep(Output(), result)
    lines = capsys.readouterr().out.splitlines()
    header = next(line.split("\t") for line in lines if line.startswith("run\taccount\t"))
    shown = dict(
        zip(header, next(line.split("\t") for line in lines if line.startswith("overrides=tight\t")), strict=True)
    )
    # Turnover too: both explained turnover/yr in a note and showed no such column (a trial).
    turnover = sweep.rows[0].standing.turnover
    assert turnover is not None and turnover > 0
    assert (shown["trades"], shown["turnover/yr"], shown["avg gross"], shown["commissions"], shown["slippage~"]) == (
        "7",
        f"{turnover:.2f}",
        "1.3%",
        "2.50",
        "34.45",
    )
    page = " ".join(re.sub(r"<[^>]+>", " ", render(sweep, [])).split())
    assert "trades turnover/yr avg gross commissions USD slippage~ USD backtest" in page
    assert f" 7 {turnover:.2f} 1.3% 2.50 34.45 s-a" in page


def _short_run(n: int, *, still: bool = False) -> SweepResult:
    """A sweep of one finished run whose one account has `n` daily returns (all 0 when `still`: no position)."""
    from datetime import date, timedelta

    from llmtrade.analytics import curves
    from llmtrade.analytics.records import TURNOVER_NOTE, Curve, Leaderboard
    from llmtrade.analytics.standings import standings
    from llmtrade.domain.sweeps import SweepRunFinished

    days = tuple(date(2026, 1, 5) + timedelta(days=i) for i in range(n + 1))
    equity = tuple(10_000.0 * (1 + (0.0 if still else 0.001 * ((i % 3) - 0.8))) ** i for i in range(n + 1))
    held = (0.0 if still else 0.2,) * (n + 1)
    curve = Curve(name="acct_1", kind="account", sessions=days, equity=equity, gross_exposure=held)
    track = curves.Track(
        curve=curve, trades=(0,) * n + (3,), wins=(0,) * n + (1,), costs_usd=(0.0,) * (n + 1),
        traded_usd=(0.0,) * n + (9_000.0,), bought_usd=(0.0,) * n + (4_500.0,), sold_usd=(0.0,) * n + (4_500.0,),
    )  # fmt: skip
    [row] = standings([track], trials=1, trial_names={"acct_1"})
    board = Leaderboard(
        source="backtest s-a", start=days[0], end=days[-1], sessions=n, trials=1, bootstrap="b", standings=(row,),
        curves=(curve,), notes=(TURNOVER_NOTE,),
    )  # fmt: skip
    run = SweepRunFinished(
        run_id="a", backtest="s-a", label="overrides=tight", axes={}, start=days[0], end=days[-1], attempt=1,
        trial_accounts=["acct_1"], leaderboard=board.model_dump(mode="json"),
    )  # fmt: skip
    done = SweepRun(run_id="a", backtest="s-a", label="overrides=tight", status="finished", attempts=1, seconds=1.0)
    return SweepResult(
        name="s", database="llmtrade_sw_s", executor="serial", workers=1, runs=[done], finished=1, failed=0,
        leaderboard=sweep_leaderboard("s", ["a"], 5, {"a": run}), seconds=1.0,
    )  # fmt: skip


def test_a_blank_interval_reads_na_once_in_the_sweeps_table_and_page(capsys: pytest.CaptureFixture[str]) -> None:
    """A run of 10 daily returns has no Sharpe interval: the sweep's table read "n/a..n/a" and its page "n/a .. n/a",
    as if two bounds had been drawn and each were unknown. Both now say "n/a" once (the notes say why); an interval
    that was drawn still reads low..high."""
    from llmtrade.sweep.report import render

    short = _short_run(10)
    print_sweep(Output(), short)
    lines = capsys.readouterr().out.splitlines()
    header = next(line.split("\t") for line in lines if line.startswith("run\taccount\t"))
    row = next(line.split("\t") for line in lines if line.startswith("overrides=tight\t"))
    assert dict(zip(header, row, strict=True))["95% interval"] == "n/a"
    page = " ".join(re.sub(r"<[^>]+>", " ", render(short.leaderboard, [])).split())
    assert "n/a .. n/a" not in page and "n/a..n/a" not in page
    # The return, then Sharpe, its interval, PSR and DSR (one n/a each), the drawdown, trades and exposure.
    assert "acct_1 +0.20% n/a n/a n/a n/a -1.67% 3 " in page and " 20.0%" in page
    drawn = _short_run(30)
    print_sweep(Output(), drawn)
    row = next(line.split("\t") for line in capsys.readouterr().out.splitlines() if line.startswith("overrides=tight"))
    assert re.fullmatch(r"-?\d+\.\d\d\.\.-?\d+\.\d\d", dict(zip(header, row, strict=True))["95% interval"])


def test_a_row_whose_returns_never_varied_says_why_its_sharpe_is_na() -> None:
    """A PM that never traded over 30 sessions read Sharpe "n/a" in the sweep's table with no word: the note on too
    few returns did not apply. The notes now count such rows and say why (and that they rank last)."""
    notes = _short_run(30, still=True).leaderboard.notes
    assert (
        "Sharpe (its interval and DSR) is n/a for 1 of the 1 rows though each has 20 daily returns or more: their "
        "returns never varied (no position held, cash throughout), and a ratio over a standard deviation of 0 is "
        "undefined; they rank last"
    ) in notes, notes
    assert not [n for n in _short_run(30).leaderboard.notes if "never varied" in n]
    assert not [n for n in _short_run(10, still=True).leaderboard.notes if "never varied" in n]  # too few: said so


def test_a_sweep_of_one_run_is_counted_as_one_run() -> None:
    # A trial's page said "1 runs"; with none finished the board said "0 of the 1 runs finished".
    from llmtrade.sweep.report import render

    board = sweep_leaderboard("one", ["r" * 64], 5, {})
    assert board.notes[0].startswith("0 of the 1 run finished (1 not run)"), board.notes[0]
    page = " ".join(re.sub(r"<[^>]+>", " ", render(board, [])).split())
    assert "1 run, 0 finished; trials" in page and "1 runs" not in page
