"""What commands print when they finish: human reports on a terminal, JSON for machines."""

from __future__ import annotations

from typing import Any

from llmtrade.console import Output
from llmtrade.domain.research import MarketSnapshot, ResearchPack
from llmtrade.llm.gateway import LLMMode, UsageTotals
from llmtrade.llm.providers import ModeDecision


def mode_banner(decision: ModeDecision) -> str:
    if decision.mode is LLMMode.OFFLINE:
        return f"OFFLINE MODE: rules provider, not model output ({decision.reason})"
    if decision.mode is LLMMode.REPLAY:
        return f"REPLAY MODE: {decision.reason}"
    return f"LIVE MODE: {decision.reason}"


def usage_rows(totals: UsageTotals) -> list[tuple[str, Any]]:
    cost = f"${totals.cost_usd:.4f}"
    if totals.unpriced_calls:
        cost += f" (+{totals.unpriced_calls} calls with no known price)"
    return [
        ("model calls", totals.calls),
        ("tokens", f"{totals.prompt_tokens} in / {totals.completion_tokens} out"),
        ("cost", cost),
    ]


def usage_json(totals: UsageTotals) -> dict[str, Any]:
    return {
        "calls": totals.calls,
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "cost_usd": round(totals.cost_usd, 6),
        "unpriced_calls": totals.unpriced_calls,
    }


def print_council(out: Output, result: dict[str, Any], totals: UsageTotals) -> None:
    out.heading("answers")
    for answer in result["answers"]:
        out.line(f"[{answer['model']}]", style="bold cyan")
        out.line(answer["text"])
        out.line()
    for failure in result["failures"]:
        out.line(f"[{failure['model']}] failed in {failure['stage']}: {failure['error']}", style="bold red")
    out.table(
        "peer ranking (mean rank, 1 = best)",
        ["model", "mean rank", "votes"],
        [(row["model"], f"{row['mean_rank']:.2f}", row["votes"]) for row in result["standings"]],
    )
    out.heading(f"chairman ({result['chairman']})")
    out.line(result["verdict"])
    out.line()
    out.pairs([*usage_rows(totals), ("duration", f"{result['duration_ms'] / 1000:.1f} s"), ("run", result["run_id"])])


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def print_snapshot(out: Output, snapshot: MarketSnapshot) -> None:
    label = "SYNTHETIC prices (offline)" if snapshot.synthetic else "prices"
    where = f"last session {snapshot.session}, {label} from {snapshot.source}"
    out.table(
        f"market snapshot as of {snapshot.asof.isoformat()}: {where}",
        [
            "symbol",
            "close",
            "1w",
            "4w",
            "12w",
            "vs SMA20",
            "vs SMA50",
            "vs SMA200",
            "RSI14",
            "ATR14",
            "vol20",
            "DD 52w",
            "corr SPY",
        ],
        [
            (
                s,
                _num(i.close),
                _pct(i.return_1w),
                _pct(i.return_4w),
                _pct(i.return_12w),
                _pct(i.price_vs_sma_20),
                _pct(i.price_vs_sma_50),
                _pct(i.price_vs_sma_200),
                _num(i.rsi_14, 1),
                _num(i.atr_14),
                _pct(i.realized_vol_20),
                _pct(i.drawdown_from_52w_high),
                _num(i.corr_spy_60),
            )
            for s, i in snapshot.indicators.items()
        ],
    )


def print_research(out: Output, packs: list[ResearchPack], degraded: list[str]) -> None:
    if packs:
        print_snapshot(out, packs[0].snapshot)
    for pack in packs:
        out.heading(
            f"research pack {pack.label}: {pack.research_source}, week {pack.week_id}, as of {pack.asof_et.isoformat()}"
        )
        regime = pack.macro_regime
        out.pairs(
            [
                ("risk mode", regime.risk_mode),
                (
                    "impulses",
                    f"rates {regime.rates_impulse}, usd {regime.usd_impulse}, "
                    f"inflation {regime.inflation_impulse}, growth {regime.growth_impulse}",
                ),
                ("hash", pack.content_hash()[:16]),
            ]
        )
        for narrative in pack.top_narratives:
            out.line(f"- {narrative.name}: {narrative.why_it_moves_prices_this_week}")
            out.line(f"  falsified by: {narrative.what_would_falsify_it}")
        out.line(f"consensus: {pack.consensus_map.street_consensus}")
        out.line(f"would surprise: {pack.consensus_map.what_would_surprise}")
        out.table(
            "tradable candidates",
            ["instrument", "bias", "thesis", "invalidation"],
            [
                (c.instrument, c.directional_bias, c.one_week_thesis, c.invalidation_rule)
                for c in pack.tradable_candidates
            ],
        )
        if pack.event_calendar_next_7d:
            out.line("events next 7 days: " + "; ".join(pack.event_calendar_next_7d))
        notes = pack.confidence_notes
        for note in [*notes.known_unknowns, *notes.data_quality_flags]:
            out.line(f"note: {note}")
    for item in degraded:
        out.line(f"DEGRADED: {item}", style="bold red")
