"""The council's answer, research packs, market snapshots and bars."""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmtrade.app.inquiry_results import CouncilResult, ResearchResult
from llmtrade.commands.render.common import footer, num, pct, prices_from, share
from llmtrade.console import Output
from llmtrade.domain.research import MarketSnapshot

if TYPE_CHECKING:
    from llmtrade.app.inquiries import BarsView


def print_council(out: Output, result: CouncilResult) -> None:
    # Offline the rules answered every seat: the model models.yaml names for it was not asked.
    rules = result.mode == "offline"

    def seat(model: str) -> str:
        return f"offline rules, in place of {model}" if rules else model

    out.heading("answers")
    for answer in result.answers:
        out.line(f"[{seat(answer.model)}]", style="bold cyan")
        out.line(answer.text)
        out.line()
    for failure in result.failures:
        out.warning(f"[{failure.model}] failed in {failure.stage}: {failure.error}")
    out.table(
        "peer ranking (mean rank, 1 = best)",
        ["model", "mean rank", "votes"],
        [(seat(row.model), f"{row.mean_rank:.2f}", row.votes) for row in result.standings],
    )
    out.heading(f"chairman ({seat(result.chairman)})")
    out.line(result.verdict)
    out.line()
    footer(out, result.usage, duration_ms=result.duration_ms, run_id=result.run_id)


_SNAPSHOT_COLUMNS = ("symbol", "close", "1w", "4w", "12w", "vs SMA20", "vs SMA50", "vs SMA200")
_SNAPSHOT_COLUMNS += ("RSI14", "ATR14", "vol20", "DD 52w", "corr SPY")


def print_snapshot(out: Output, snapshot: MarketSnapshot) -> None:
    where = f"last session {snapshot.session}, prices: {prices_from(snapshot.source, synthetic=snapshot.synthetic)}"
    out.table(
        f"market snapshot as of {snapshot.asof.isoformat()}: {where}",
        [*_SNAPSHOT_COLUMNS],
        [
            (
                s,
                num(i.close),
                pct(i.return_1w),
                pct(i.return_4w),
                pct(i.return_12w),
                pct(i.price_vs_sma_20),
                pct(i.price_vs_sma_50),
                pct(i.price_vs_sma_200),
                num(i.rsi_14, 1),
                num(i.atr_14),
                share(i.realized_vol_20),
                pct(i.drawdown_from_52w_high),
                num(i.corr_spy_60),
            )
            for s, i in snapshot.indicators.items()
        ],
    )


def print_research(out: Output, result: ResearchResult) -> None:
    packs = result.packs.root
    if result.already_done:
        out.line(f"week {result.week_id}: research was already done; showing the stored packs (they are frozen)")
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
    for item in result.degraded:
        out.warning(f"DEGRADED: {item}")


def print_bars(out: Output, view: BarsView) -> None:
    series = view.series
    source = series.provider + (" (cache)" if series.from_cache else "")
    out.table(
        f"{view.symbol} prices: {prices_from(source, synthetic=series.synthetic)}, as of {view.asof.isoformat()}",
        ["day", "open", "high", "low", "close", "volume", "source"],
        [
            (b.day, f"{b.open:.2f}", f"{b.high:.2f}", f"{b.low:.2f}", f"{b.close:.2f}", int(b.volume), b.source)
            for b in view.bars
        ],
    )
