"""`discover` and `watchlist`: the pickers' best, the watchlist, and where the pickers disagree."""

from __future__ import annotations

from datetime import timedelta

from llmtrade.app.discovery_results import DiscoverResult, PerformanceResult, WatchlistResult
from llmtrade.console import Output
from llmtrade.discovery.performance import MIN_DIFFERENCES, PickerPerformance
from llmtrade.domain.discovery import Disagreement, WatchlistEntry
from llmtrade.domain.wording import counted, signed_percent


def _watchlist(out: Output, title: str, entries: list[WatchlistEntry]) -> None:
    out.table(
        title,
        ["rank", "symbol", "class", "score", "manual"],
        [(e.rank, e.symbol, e.asset_class, f"{e.score:.3f}", "yes" if e.manual else "") for e in entries],
    )


def _disagreements(out: Output, rows: list[Disagreement]) -> None:
    if rows:
        out.table(
            "disagreement: the LLM picks what the metric picker rejects",
            ["symbol", "LLM rank", "metric says"],
            [(d.symbol, d.llm_rank, d.metric_reason) for d in rows],
        )


def _picker(result: DiscoverResult) -> str:
    if result.llm_rules:  # offline: no model was asked, whatever models.yaml names
        return f"offline rules in place of {result.llm_model} ($0, no model asked)"
    cost = f"${result.llm_cost_usd:.4f}" if result.llm_cost_usd is not None else "unknown"
    return f"{result.llm_model} (cost {cost})"


def print_discover(out: Output, result: DiscoverResult) -> None:
    out.pairs(
        [
            ("run", result.run_id),
            ("as of", f"{result.asof.isoformat()} (session {result.session})"),
            ("candidates", f"{result.candidates} from {result.source}"),
            *(
                [("prices", "SYNTHETIC (the seeded synthetic market): every score and pick is made up")]
                if result.synthetic
                else []
            ),
            ("skipped", ", ".join(result.skipped) or "none"),
            ("LLM picker", _picker(result)),
            ("market view", result.market_view),
        ]
    )
    for picker in result.pickers:
        out.table(
            f"{picker.picker}: best {len(picker.top)}",
            ["rank", "symbol", "score", "why"],
            [(s.rank, s.symbol, f"{s.score:.3f}", s.reason) for s in picker.top],
        )
    _watchlist(out, f"watchlist ({len(result.watchlist)})", result.watchlist)
    _disagreements(out, result.disagreements)
    if result.dropped:
        out.line(f"LLM picks matching no candidate (dropped): {', '.join(result.dropped)}", style="yellow")


def print_watchlist(out: Output, result: WatchlistResult) -> None:
    when = result.asof.isoformat() if result.asof else "no discovery run yet"
    rows = [
        ("from", when),
        ("universe mode", result.universe_mode),
        ("included", ", ".join(result.include) or "none"),
        ("excluded", ", ".join(result.exclude) or "none"),
    ]
    if result.fixed_week is not None:
        later = result.fixed_week + timedelta(days=7)
        rows.append(("this week", f"universe of week {result.fixed_week} already fixed: changes apply from {later}"))
    out.pairs(rows)
    _watchlist(out, f"watchlist ({len(result.entries)})", result.entries)
    _disagreements(out, result.disagreements)


_PERFORMANCE_COLUMNS = ["picker", "sessions", "rank IC", "HAC t", "hit vs SPY", "top-median", "turnover"]
_PERFORMANCE_COLUMNS += ["coverage", "USD/week", "ensemble minus (95%)"]


def _f(value: float | None, spec: str = ".3f") -> str:
    return "-" if value is None else format(value, spec)


def print_performance(out: Output, result: PerformanceResult) -> None:
    heading = [
        ("as of session", str(result.asof_session) if result.asof_session else "none complete"),
        ("horizon", f"{result.horizon} sessions, excess over SPY"),
        ("judged sessions", f"{result.judged_sessions} ({result.matured_sessions} matured)"),
        ("top", f"best {result.top} of each picker count as its picks"),
    ]
    if result.synthetic:
        heading.insert(0, ("prices", "SYNTHETIC (the seeded synthetic market): every return here is made up"))
    if 0 < result.judged_candidates <= result.top:
        heading.append(
            (
                "pickers alike",
                f"every picker's picks are all {result.judged_candidates} candidates judged (its best {result.top} "
                "count): their hit rates, top-median and turnover are the same, and only the rank IC (which ranks "
                "every candidate by its score) can tell them apart; give prices for more candidates to compare them",
            )
        )
    if result.cutoff_note:
        heading.append(("knowledge cutoff", result.cutoff_note))
    if result.unmeasured_picks:
        unmeasured = counted(result.unmeasured_picks, "judged candidate")
        heading.append(("unmeasured", f"{unmeasured} of matured sessions had no prices: left out, not counted as 0"))
    out.pairs(heading)
    read = "" if not result.read_sessions else ", every matured session: those its model may have read included"
    out.table(
        f"pickers (random and momentum are the controls{read})",
        _PERFORMANCE_COLUMNS,
        [_row(p) for p in result.pickers],
    )
    _after_cutoff(out, result)
    if fewer := [p for p in result.pickers if _fewer(p)]:
        out.line(
            "rank IC from fewer sessions than judged: "
            + ", ".join(f"{p.picker} {p.ic_sessions} of {p.sessions}" for p in fewer)
            + ": in the others its scores were all alike (every candidate scored the same, as the metric picker's "
            "1.0 for each one passing its filters), which ranks nothing; its IC, HAC t and ensemble difference are "
            "over the sessions with one"
        )
    w, r = result.weights, result.refit_weights
    configured = f"ensemble weights: configured metric {w.metric:.2f} fuzzy {w.fuzzy:.2f} llm {w.llm:.2f}; "
    if not result.matured_sessions:
        # Nothing to fit yet: the "re-fitted" weights are the configured ones, which read as a finding before.
        out.line(configured + "none re-fitted yet (no suggestion's forward return has matured)")
        out.line(_nothing_matured(result))
        return
    out.line(configured + f"re-fitted from matured outcomes metric {r.metric:.2f} fuzzy {r.fuzzy:.2f} llm {r.llm:.2f}")
    if thin := _thin_refit(result):
        out.line(thin)


def _row(p: PickerPerformance) -> tuple[object, ...]:
    diff = p.ensemble_minus
    interval = (
        "-"
        if diff is None
        else f"{_f(diff.estimate)} [{_f(diff.low)}, {_f(diff.high)}]"
        if diff.low is not None
        else f"{_f(diff.estimate)} (too few sessions for an interval)"
    )
    return (
        p.picker,
        p.sessions,
        _f(p.mean_ic) + (f" ({counted(p.ic_sessions, 'session')})" if _fewer(p) else ""),
        _f(p.ic_t_hac, ".2f"),
        _f(p.hit_rate, ".1%"),
        "-" if p.top_minus_median is None else signed_percent(p.top_minus_median, 2),
        _f(p.turnover, ".1%"),
        _f(p.coverage, ".0%"),
        f"{p.cost_per_week_usd:.4f}",
        interval,
    )


def _after_cutoff(out: Output, result: PerformanceResult) -> None:
    """The llm and ensemble rows over the sessions judged after the LLM picker's knowledge cutoff, when some matured
    session was judged on or before it (else the table above is all after it): the evidence, or that there is none."""
    if result.after_cutoff is None or not result.read_sessions:
        return
    cutoff = f"the LLM picker's knowledge cutoff ({result.knowledge_cutoff})"
    if not result.after_cutoff_sessions:
        out.line(
            f"no matured session was judged after {cutoff}: the llm and ensemble figures above are of sessions its "
            "model may have read about in training, no evidence of skill"
        )
        return
    out.table(
        f"llm and ensemble after {cutoff}: {counted(result.after_cutoff_sessions, 'matured session')}, the evidence",
        _PERFORMANCE_COLUMNS,
        [_row(p) for p in result.after_cutoff],
    )


def _fewer(p: PickerPerformance) -> bool:
    """Whether `p`'s rank IC is over fewer sessions than it has (the others' scores all alike)."""
    return p.mean_ic is not None and p.ic_sessions < p.sessions


def _thin_refit(result: PerformanceResult) -> str | None:
    """What a re-fitted weight rests on when a picker given one has an IC of fewer than MIN_DIFFERENCES sessions (a
    trial's metric weight of 0.99 came from one session's IC)."""
    r = result.refit_weights
    given = {"metric": r.metric, "fuzzy": r.fuzzy, "llm": r.llm}
    thin = [p for p in result.pickers if given.get(p.picker, 0.0) > 0 and p.ic_sessions < MIN_DIFFERENCES]
    if not thin or r == result.weights:
        return None
    first, *rest = thin
    parts = [f"{first.picker}'s IC of {counted(first.ic_sessions, 'session')}"]
    parts += [f"{p.picker}'s of {counted(p.ic_sessions, 'session')}" for p in rest]
    return (
        f"note: the re-fitted weights rest on {', '.join(parts)}: under {MIN_DIFFERENCES} sessions, too few for the "
        "ensemble difference's interval, and as noisy as that"
    )


def _nothing_matured(result: PerformanceResult) -> str:
    """Why no forward return has matured: none judged at all (for a backtest, one that ran no discovery: a trial read
    the live commands' hint for a backtest run with discovery.in_backtest false), or none old enough yet."""
    if not result.judged_sessions and result.backtest is not None:
        return (
            f"nothing has matured: backtest {result.backtest} recorded no discovery (it ran with discovery off, "
            "assets.yaml discovery.in_backtest: false, or its weeks have not begun); a backtest run with it on records "
            "one before each weekly run"
        )
    if not result.judged_sessions:
        return "nothing has matured: no discovery has run yet (`llmtrade discover`, or run-due before each weekly run)"
    return (
        f"nothing has matured: a suggestion is judged {result.horizon} sessions after the discovery that made it"
        " (`llmtrade discover`, or run-due before each weekly run)"
    )
