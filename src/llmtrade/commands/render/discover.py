"""`discover` and `watchlist`: the pickers' best, the watchlist, and where the pickers disagree."""

from __future__ import annotations

from llmtrade.app.discovery_results import DiscoverResult, WatchlistResult
from llmtrade.console import Output
from llmtrade.domain.discovery import Disagreement, WatchlistEntry


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


def print_discover(out: Output, result: DiscoverResult) -> None:
    out.pairs(
        [
            ("run", result.run_id),
            ("as of", f"{result.asof.isoformat()} (session {result.session})"),
            ("candidates", f"{result.candidates} from {result.source}"),
            ("skipped", ", ".join(result.skipped) or "none"),
            (
                "LLM picker",
                f"{result.llm_model} (cost {result.llm_cost_usd if result.llm_cost_usd is not None else '?'})",
            ),
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
    out.pairs(
        [
            ("from", when),
            ("universe mode", result.universe_mode),
            ("included", ", ".join(result.include) or "none"),
            ("excluded", ", ".join(result.exclude) or "none"),
        ]
    )
    _watchlist(out, f"watchlist ({len(result.entries)})", result.entries)
    _disagreements(out, result.disagreements)
