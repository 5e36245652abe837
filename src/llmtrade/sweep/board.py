"""A sweep's leaderboard: every traded account of every finished run, deflated for all the trials of the sweep.

Each run's own leaderboard (`llmtrade leaderboard --backtest RUN`) deflates its Sharpe ratios for the
accounts of that run only. Picking the best row of a sweep is picking among every account of every
configuration tried, so here the deflated Sharpe ratio (Bailey & Lopez de Prado 2014) is recomputed with
N = `trials`, the trial accounts (PMs and chairman) of every run in the sweep file (finished or not: a
failed configuration was tried too), and the variance of the per-session Sharpe ratios of every row.

Built from the leaderboards as stored in the sweep's database, in plan order, so the bytes depend only on
the runs' results, never on which backend ran them, how many workers, or in which order they finished.

Rows rank on their evidence (sweep/board_cutoff.py): a run split at its models' knowledge cutoff by its own
leaderboard on its weeks after it, a run wholly before it last with none; `standing` keeps each row's whole range.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, NamedTuple

from pydantic import Field, model_validator

from llmtrade.analytics import metrics
from llmtrade.analytics.records import TURNOVER_NOTE, Curve, Leaderboard, Standing
from llmtrade.analytics.standings import (
    SESSIONS_PER_WEEK,
    bare_sharpe_note,
    deflated,
    holding,
    intraday_note,
    more_weeks,
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
from llmtrade.sweep.board_cutoff import Span, evidence_equity, evidence_standing, ranked_note, span_of
from llmtrade.sweep.spec import RunPlan


class SweepRow(Record):
    """One account of one run: its standing over that run's sessions, its DSR deflated for the sweep, and the same
    over its evidence (the weeks after its models' knowledge cutoff), which the sweep ranks on."""

    backtest: str  # the run's backtest name: `leaderboard --backtest` / `report --backtest` open its books
    label: str  # the run's axes, e.g. "overrides=tight models=config memory=off seed=7 range=..."
    account: str
    standing: Standing = Field(
        description="the row over its run's whole range, weeks its models may have read about in training included "
        "(its DSR deflated for the sweep)"
    )
    evidence: Standing | None = Field(
        None,
        description="the row over its evidence, which the sweep ranks on: for a run its leaderboard splits at its "
        "models' knowledge cutoff, its after-cutoff period's standing (the DSR deflated for the sweep over those "
        "sessions' returns, with the spread of the trials' Sharpe ratios over their own evidence); for a run no "
        "cutoff splits, its whole range (as `standing`, but for that spread); null for a run wholly on or before its "
        "models' cutoff, which has no evidence and ranks last",
    )
    evidence_span: Span = Field(
        "whole_range",
        description="what `evidence` is over: whole_range (no cutoff splits the run), after_cutoff (the weeks after "
        "its models' knowledge cutoff), none (every week on or before it: no evidence)",
    )
    evidence_from: date | None = Field(
        None, description="after_cutoff: the close the evidence starts from (its leaderboard's split); else null"
    )

    @model_validator(mode="before")
    @classmethod
    def _whole_range(cls, data: Any) -> Any:
        """A row of no split given without its evidence: its whole range is its evidence (null is for none alone)."""
        if (
            isinstance(data, dict)
            and data.get("evidence") is None
            and data.get("evidence_span") in (None, "whole_range")
        ):
            return {**data, "evidence": data.get("standing")}
        return data


class SweepLeaderboard(Record):
    """The sweep's rows, best evidence Sharpe estimate first (ties: plan order), rows of no evidence last. `trials` is
    the deflated Sharpe's N."""

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
    picked: list[tuple[str, SweepRunFinished, Standing, list[float], _Evidence]] = []
    spread: list[float | None] = []  # each picked row's Sharpe ratio in the trials' spread (standings.trial_sharpe)
    spread_after: list[float | None] = []  # ... over its evidence (None: none), for the evidence DSR's spread
    held: list[str] = []  # "label account" of each row whose run ends holding a position
    two_way: list[str] = []
    books: dict[tuple[Any, ...], list[str]] = {}  # each run's trial accounts' curves -> the runs' labels
    split: list[str] = []  # each run ranked on its weeks after its models' cutoff: "label (from when)"
    before: list[str] = []  # each run wholly on or before its models' cutoff: its label
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
        span, start = span_of(board)
        if span == "after_cutoff":
            split.append(f"{label} (from {start})")
        elif span == "none":
            before.append(label)
        if old:
            two_way.append(label)
        for standing in board.standings:
            if standing.kind == "account" and standing.name in names:
                curve = curves.get(standing.name)
                kept = standing.model_copy(update={"turnover": None}) if old else standing
                proof = evidence_standing(board, standing.name, span, kept)
                after = evidence_equity(curve, start, span) if curve else None
                if proof is not None and old:
                    proof = proof.model_copy(update={"turnover": None})
                evidence = _Evidence(proof, _returns(after) if after else [], span, start)
                picked.append((label, run, kept, _returns(curve.equity) if curve else [], evidence))
                spread.append(trial_sharpe(curve.equity) if curve else None)
                spread_after.append(trial_sharpe(after) if after and proof is not None else None)
                if curve is not None and holding([curve]):  # a position at its last close (None: on no equity)
                    held.append(f"{label} {standing.name}")
    # A trial wiped out counts too, with its Sharpe ratio to the wipe-out (standings.trial_sharpe).
    earlier_runs = [finished[run_id] for run_id in earlier if run_id in finished]
    dropped = [trial_sharpe(curve.equity) for run in earlier_runs for curve in _trial_curves(run)]
    known = [s for s in [*spread, *dropped] if s is not None]
    variance = statistics.variance(known) if len(known) >= 2 else None
    # The evidence DSR deflates by the spread of the trials' Sharpe ratios over their own evidence: the same weeks'
    # kind as the figure it deflates (a run wholly before its cutoff has none, and still counts in N).
    known_after = [s for s in [*spread_after, *_earlier_evidence(earlier_runs)] if s is not None]
    variance_after = statistics.variance(known_after) if len(known_after) >= 2 else None
    rows = [
        SweepRow(
            backtest=run.backtest,
            label=label,
            account=standing.name,
            standing=standing.model_copy(update={"dsr": deflated(returns, trials, variance), **_no_ratio(standing)}),
            evidence=None if ev.standing is None else _deflated(ev.standing, ev.returns, trials, variance_after),
            evidence_span=ev.span if ev.standing is not None else "none",
            evidence_from=ev.start if ev.standing is not None else None,
        )
        for label, run, standing, returns, ev in picked
    ]
    order = sorted(range(len(rows)), key=lambda i: (_sharpe_key(rows[i]), i))
    plans = list(run_ids)
    done = sum(1 for run_id in run_ids if run_id in finished)
    # The notes on the figures are on the ones ranked: each row's evidence.
    ranked = [row.evidence for row in rows if row.evidence is not None]
    short = short_note([(f"{row.label} {row.account}", row.evidence.sessions) for row in rows if row.evidence])
    notes = (
        _trials_note(trials, len(plans), done, failed, stopped, len(earlier), running),
        "each row's other figures are its own run's, over that run's sessions; baselines (FLAT, SPY, "
        "EQUAL_WEIGHT) are in each run's leaderboard: llmtrade leaderboard --backtest RUN",
        *([short] if short else []),
        RISK_FREE_NOTE,
        TURNOVER_NOTE,
        *filter(None, [open_trades_note(held, of=len(rows)), _still_note(ranked)]),
        *filter(None, [bare_sharpe_note(ranked, of=len(ranked))]),
        *filter(None, [undeflated_note(ranked, of=len(ranked))]),
        *filter(None, [intraday_note(within_sessions(ranked), of=len(ranked))]),
        *([_two_way_note(two_way)] if two_way else []),
        *filter(None, [ranked_note(split, before, done)]),
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


class _Evidence(NamedTuple):
    """A picked row's evidence before its DSR is deflated for the sweep: its standing (None: none), daily returns,
    span and the close it starts from."""

    standing: Standing | None
    returns: list[float]
    span: Span
    start: date | None


def _deflated(standing: Standing, returns: list[float], trials: int, variance: float | None) -> Standing:
    return standing.model_copy(update={"dsr": deflated(returns, trials, variance), **_no_ratio(standing)})


def _earlier_evidence(runs: Sequence[SweepRunFinished]) -> list[float | None]:
    """The Sharpe ratios over their evidence of the trial accounts of runs an earlier version of the file finished."""
    found: list[float | None] = []
    for run in runs:
        board = Leaderboard.model_validate(run.leaderboard)
        span, start = span_of(board)
        for curve in _trial_curves(run):
            after = evidence_equity(curve, start, span)
            found.append(trial_sharpe(after) if after else None)
    return found


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
    """Every annualised figure, the PSR and the weeks needed of a row of too few returns blanked, as
    standings.standing blanks them (short_note), and the weeks needed of a row with enough never under the 4 weeks
    (`metrics.MIN_RETURNS_FOR_INTERVAL` returns) any ratio needs: a run's leaderboard stored before either was so
    still holds them ("weeks more 0.2" beside a row whose every ratio is n/a, a promise nothing computed keeps)."""
    if standing.sessions >= metrics.MIN_RETURNS_FOR_RATIO:
        floor = metrics.MIN_RETURNS_FOR_INTERVAL / SESSIONS_PER_WEEK
        needed = standing.weeks_needed
        if needed is None or needed >= floor:
            return {}
        return {"weeks_needed": floor, "weeks_more": more_weeks(floor, standing.weeks)}
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
        "psr": None,
        "weeks_needed": None,
        "weeks_more": None,
    }


def _sharpe_key(row: SweepRow) -> tuple[int, float]:
    """Best evidence Sharpe first; a Sharpe of n/a after the rest, and a row of no evidence after those."""
    if row.evidence is None:
        return (1, float("inf"))
    estimate = row.evidence.sharpe.estimate
    return (0, -estimate if estimate is not None else float("inf"))
