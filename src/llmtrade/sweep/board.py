"""A sweep's leaderboard: every traded account of every finished run, deflated for all the trials of the sweep.

Each run's own leaderboard (`llmtrade leaderboard --backtest RUN`) deflates its Sharpe ratios for the
accounts of that run only. Picking the best row of a sweep is picking among every account of every
configuration tried, so here the deflated Sharpe ratio (Bailey & Lopez de Prado 2014) is recomputed with
N = `trials`, the trial accounts (PMs and chairman) of every run in the sweep file (finished or not: a
failed configuration was tried too), and the variance of the per-session Sharpe ratios of every row.

Built from the leaderboards as stored in the sweep's database, in plan order, so the bytes depend only on
the runs' results, never on which backend ran them, how many workers, or in which order they finished.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from llmtrade.analytics import metrics
from llmtrade.analytics.records import ALL_BEFORE, TURNOVER_NOTE, Curve, Leaderboard, Standing
from llmtrade.analytics.standings import (
    bare_sharpe_note,
    deflated,
    intraday_note,
    open_trades_note,
    short_note,
    trial_sharpe,
    undeflated_note,
    within_sessions,
)
from llmtrade.app.leaderboard import RISK_FREE_NOTE, TRIAL_ROLES
from llmtrade.domain.records import Record
from llmtrade.domain.sweeps import SweepRunFinished
from llmtrade.domain.wording import counted, named_first
from llmtrade.sweep.spec import RunPlan


class SweepRow(Record):
    """One account of one run: its standing over that run's sessions, its DSR deflated for the sweep."""

    backtest: str  # the run's backtest name: `leaderboard --backtest` / `report --backtest` open its books
    label: str  # the run's axes, e.g. "overrides=tight models=config memory=off seed=7 range=..."
    account: str
    standing: Standing


class SweepLeaderboard(Record):
    """The sweep's rows, best Sharpe estimate first (ties: plan order). `trials` is the deflated Sharpe's N."""

    name: str
    runs: int  # runs in the sweep file
    finished: int  # runs with a result
    trials: int
    rows: tuple[SweepRow, ...]
    notes: tuple[str, ...]


def trials_of(plans: Sequence[RunPlan]) -> int:
    """The accounts compared across the sweep: every run's PM and chairman accounts."""
    return sum(sum(1 for a in p.config.accounts.accounts if a.role in TRIAL_ROLES) for p in plans)


def trial_accounts(plan: RunPlan) -> list[str]:
    """The run's PM and chairman accounts: the accounts a reader picks the best of."""
    return sorted(a.id for a in plan.config.accounts.accounts if a.role in TRIAL_ROLES)


def sweep_leaderboard(
    name: str,
    run_ids: Sequence[str],
    trials: int,
    finished: Mapping[str, SweepRunFinished],
    *,
    failed: int = 0,
    stopped: int = 0,
    running: int = 0,
    earlier: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
) -> SweepLeaderboard:
    """The leaderboard of sweep `name`: the runs of `run_ids` (plan order) that have a SweepRunFinished in
    `finished`, deflated for `trials` trials; `failed` of the others failed after their retries, `stopped` were
    begun and stopped part-way (the sweep's rerun resumes them), `running` are being run now, the rest not run;
    `earlier` (run ids) an earlier version of the file finished are counted in `trials` (driver.py `earlier_results`),
    and their trial accounts' Sharpe ratios in the variance the DSR deflates with: N and the dispersion are of the same
    trials. The variance was of the rows shown alone, so a file narrowed to its winners after the results were seen
    moved their DSR with what it dropped (to n/a, narrowed to one row: no variance of one).
    `labels` (run id -> axes) names each run as the sweep file names it now: a run's id is the hash of its
    configuration, not of its axes' names, so an override renamed with its values kept is the run finished before,
    whose recorded label still named the old override on every row; a run missing from it keeps its recorded label."""
    named = labels or {}
    picked: list[tuple[str, SweepRunFinished, Standing, list[float]]] = []
    spread: list[float | None] = []  # each picked row's Sharpe ratio in the trials' spread (standings.trial_sharpe)
    held: list[str] = []  # "label account" of each row whose run ends holding a position
    two_way: list[str] = []
    books: dict[tuple[Any, ...], list[str]] = {}  # each run's trial accounts' curves -> the runs' labels
    read: list[str] = []  # each run whose range holds weeks its models may have read about: "label (to when)"
    for run_id in run_ids:
        run = finished.get(run_id)
        if run is None:
            continue
        board = Leaderboard.model_validate(run.leaderboard)
        names = set(run.trial_accounts)
        curves = {c.name: c for c in board.curves}
        same = tuple(sorted((n, tuple(c.equity)) for n, c in curves.items() if n in names))
        books.setdefault((board.start, board.end, same), []).append(named.get(run_id, run.label))
        # A leaderboard stored before turnover was one-way (its notes do not say it is) summed buys and sells: its
        # turnover is another figure than the other rows', so it is left out (n/a) and said.
        old = TURNOVER_NOTE not in board.notes
        label = named.get(run_id, run.label)
        ahead = _read_ahead(board)
        if ahead:
            read.append(f"{label} ({ahead})")
        if old:
            two_way.append(label)
        for standing in board.standings:
            if standing.kind == "account" and standing.name in names:
                curve = curves.get(standing.name)
                kept = standing.model_copy(update={"turnover": None}) if old else standing
                picked.append((label, run, kept, _returns(curve.equity) if curve else []))
                spread.append(trial_sharpe(curve.equity) if curve else None)
                if curve is not None and curve.gross_exposure and curve.gross_exposure[-1] > 0:
                    held.append(f"{label} {standing.name}")
    # A trial wiped out counts too, with its Sharpe ratio to the wipe-out (standings.trial_sharpe).
    earlier_runs = [finished[run_id] for run_id in earlier if run_id in finished]
    dropped = [trial_sharpe(curve.equity) for run in earlier_runs for curve in _trial_curves(run)]
    known = [s for s in [*spread, *dropped] if s is not None]
    variance = statistics.variance(known) if len(known) >= 2 else None
    rows = [
        SweepRow(
            backtest=run.backtest,
            label=label,
            account=standing.name,
            standing=standing.model_copy(update={"dsr": deflated(returns, trials, variance), **_no_ratio(standing)}),
        )
        for label, run, standing, returns in picked
    ]
    order = sorted(range(len(rows)), key=lambda i: (_sharpe_key(rows[i]), i))
    plans = list(run_ids)
    done = sum(1 for run_id in run_ids if run_id in finished)
    short = short_note([(f"{row.label} {row.account}", row.standing.sessions) for row in rows])
    notes = (
        _trials_note(trials, len(plans), done, failed, stopped, len(earlier), running),
        "each row's other figures are its own run's, over that run's sessions; baselines (FLAT, SPY, "
        "EQUAL_WEIGHT) are in each run's leaderboard: llmtrade leaderboard --backtest RUN",
        *([short] if short else []),
        RISK_FREE_NOTE,
        TURNOVER_NOTE,
        *filter(None, [open_trades_note(held, of=len(rows)), _still_note([row.standing for row in rows])]),
        *filter(None, [bare_sharpe_note([row.standing for row in rows], of=len(rows))]),
        *filter(None, [undeflated_note([row.standing for row in rows], of=len(rows))]),
        *filter(None, [intraday_note(within_sessions([row.standing for row in rows]), of=len(rows))]),
        *([_two_way_note(two_way)] if two_way else []),
        *([_read_ahead_note(read, done)] if read else []),
        *[_same_books_note(labels) for labels in books.values() if len(labels) > 1],
    )
    return SweepLeaderboard(
        name=name,
        runs=len(plans),
        finished=done,
        trials=trials,
        rows=tuple(rows[i] for i in order),
        notes=notes,
    )


def _read_ahead(board: Leaderboard) -> str | None:
    """How much of a run's range is weeks on or before its models' knowledge cutoff, as its leaderboard found
    (app/cutoff_periods.py): "to" the close its periods are split at, "every week", or None (none, or no model's)."""
    if board.periods:
        return f"to {board.periods[0].end}"
    return "every week" if any(note.startswith(ALL_BEFORE) for note in board.notes) else None


def _read_ahead_note(read: Sequence[str], runs: int) -> str:
    """The runs whose rows rank weeks their models may have read about in training: a row is its run's whole range,
    where each run's own leaderboard splits those weeks off as no evidence (the sweep's table said nothing of it)."""
    return (
        f"{len(read)} of the {counted(runs, 'run')} rank weeks on or before their models' knowledge cutoff, which the "
        "models may have read about in training, with the rest (each row is its run's whole range): "
        f"{', '.join(read)}; "
        "those weeks are not evidence of skill, and each run's leaderboard shows the weeks after the cutoff apart "
        "(llmtrade leaderboard --backtest RUN)"
    )


def _trials_note(
    trials: int, runs: int, done: int, failed: int, stopped: int = 0, earlier: int = 0, running: int = 0
) -> str:
    """What `trials` counts, and how many of the sweep's runs it counts have a result: a sweep whose every run failed
    said 'trials = 10: the PM and chairman accounts of all 2 runs of the sweep' above an empty table."""
    accounts = (
        f"the PM and chairman accounts of all {counted(runs, 'run')} of the sweep"
        if runs != 1
        else ("the PM and chairman accounts of the sweep's one run")
    )
    if earlier:
        accounts += f" and of {counted(earlier, 'run')} an earlier version of its file finished (no longer in it)"
    if done == runs:
        return f"trials = {trials}: {accounts}; the deflated Sharpe assumes the best of that many was picked"
    idle = runs - done - failed - stopped - running
    others = [
        f"{failed} failed" if failed else "",
        f"{running} running now" if running else "",
        f"{stopped} stopped part-way" if stopped else "",
        f"{idle} not run" if idle else "",
    ]
    rest = ", ".join(filter(None, others))
    if done == 0:
        return f"0 of the {counted(runs, 'run')} finished ({rest}): no row to rank (trials = {trials}: {accounts})"
    return (
        f"trials = {trials}: {accounts}, though only {done} finished ({rest}: a configuration tried counts all the "
        "same); the deflated Sharpe assumes the best of that many was picked"
    )


def _still_note(standings: Sequence[Standing]) -> str | None:
    """Why rows with enough returns have no Sharpe ratio (app/board_notes.py `no_ratio_note`, counted: a sweep's row
    names are long): their daily returns never varied, a PM that never traded. They read "n/a" with no word."""
    enough = [s for s in standings if s.sessions >= metrics.MIN_RETURNS_FOR_RATIO]
    still = [s for s in enough if s.sharpe.estimate is None and (s.volatility or 0.0) < 1e-12]
    if not still:
        return None
    return (
        f"Sharpe (its interval and DSR) is n/a for {len(still)} of the {len(standings)} rows though each has "
        f"{metrics.MIN_RETURNS_FOR_RATIO} daily returns or more: their returns never varied (no position held, cash "
        "throughout), and a ratio over a standard deviation of 0 is undefined; they rank last"
    )


def _two_way_note(labels: Sequence[str]) -> str:
    """Why the rows of `labels` (runs stored by an earlier build) show no turnover."""
    named = named_first(labels, 3, sep="; ")
    return (
        f"turnover n/a for {len(labels)} run{'' if len(labels) == 1 else 's'} stored by an earlier build ({named}): "
        "its leaderboard summed buys and sells (two-way), another figure than the one-way turnover; run it again"
    )


def _same_books_note(labels: Sequence[str]) -> str:
    """Runs whose trial accounts' books are the same, close for close: what set them apart changed nothing the books
    show. Offline, the rules provider answers whatever the models, and its PMs read no memory: a trial's `memory: [true,
    false]` offline sweep gave identical rows twice, counted as two runs' trials, with nothing said."""
    return (
        f"{' and '.join(labels)} hold the same books, close for close: their axes changed nothing the accounts did (an "
        "offline sweep's rules answer whatever the models and read no memory); each still counts in the trials"
    )


def _trial_curves(run: SweepRunFinished) -> list[Curve]:
    """The curves of `run`'s trial accounts, as its leaderboard stored them."""
    names = set(run.trial_accounts)
    return [c for c in Leaderboard.model_validate(run.leaderboard).curves if c.name in names]


def _returns(equity: Sequence[float]) -> list[float]:
    try:
        return metrics.daily_returns(equity)
    except ValueError:  # a curve that reached zero: no return is defined after it
        return []


def _no_ratio(standing: Standing) -> dict[str, object]:
    """Every annualised figure of a row of too few returns blanked, as standings.standing blanks them (short_note): a
    run's leaderboard stored before they were left out of such rows still holds them."""
    if standing.sessions >= metrics.MIN_RETURNS_FOR_RATIO:
        return {}
    hidden = {"estimate": None, "low": None, "high": None}
    return {
        "sharpe": standing.sharpe.model_copy(update=hidden),
        "sortino": None,
        "calmar": None,
        "cagr": None,
        "volatility": None,
        "turnover": None,
        "excess_vs_flat": standing.excess_vs_flat.model_copy(update=hidden),
        "excess_vs_spy": standing.excess_vs_spy.model_copy(update=hidden),
    }


def _sharpe_key(row: SweepRow) -> float:
    estimate = row.standing.sharpe.estimate
    return -estimate if estimate is not None else float("inf")
