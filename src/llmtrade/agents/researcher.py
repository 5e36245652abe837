"""Researcher: writes the week's research findings from the market snapshot and its own knowledge.

Offline, the rules derive the regime and the candidates from the snapshot alone: momentum
against volatility, trend against the moving averages. Plain, explainable, and clearly labelled.
"""

from __future__ import annotations

import math
import random
from datetime import date, datetime

from llmtrade.agents.prompting import as_messages
from llmtrade.config.models import BENCHMARK, Instrument, ResearchProviderRef
from llmtrade.domain.market import IndicatorSet
from llmtrade.domain.research import (
    Candidate,
    ConfidenceNotes,
    ConsensusMap,
    MacroRegime,
    MarketSnapshot,
    Narrative,
    ResearchFindings,
    findings_schema,
)
from llmtrade.domain.wording import signed_percent
from llmtrade.llm.gateway import CallSite, LLMGateway
from llmtrade.prompts.renderer import PromptRenderer, RenderedPrompt

ROLE = "research"


def research_prompt(
    prompts: PromptRenderer, universe: list[Instrument], snapshot: MarketSnapshot, week_id: date, asof: datetime
) -> RenderedPrompt:
    """The research prompt: nothing in it names the provider, so every provider is asked the same."""
    return prompts.render(ROLE, universe=universe, snapshot=snapshot, week_id=week_id, asof=asof)


async def research(
    gateway: LLMGateway,
    prompt: RenderedPrompt,
    ref: ResearchProviderRef,
    universe: list[Instrument],
    snapshot: MarketSnapshot,
    site: CallSite,
) -> ResearchFindings:
    """`ref`'s findings, asked with `prompt` (`research_prompt`)."""
    schema = findings_schema([i.symbol for i in universe])
    answer = await gateway.ask(
        ref,
        as_messages(prompt),
        site,
        output=schema,
        rules=lambda rng: offline_findings(schema, universe, snapshot, rng),
    )
    return answer.value


def _momentum(ind: IndicatorSet) -> float:
    """4-week return in units of its own 4-week volatility."""
    if ind.return_4w is None or not ind.realized_vol_20:
        return 0.0
    return ind.return_4w / (ind.realized_vol_20 * math.sqrt(20 / 252))


def _impulse(value: float | None, band: float) -> str:
    if value is None or abs(value) < band:
        return "neutral"
    return "up" if value > 0 else "down"


def offline_findings(
    schema: type[ResearchFindings], universe: list[Instrument], snapshot: MarketSnapshot, rng: random.Random
) -> ResearchFindings:
    ind = snapshot.indicators

    def ret(symbol: str) -> float | None:
        return ind[symbol].return_4w if symbol in ind else None

    spy = ind.get(BENCHMARK)
    risk_mode = "mixed"
    if spy and spy.return_4w is not None and spy.price_vs_sma_50 is not None:
        if spy.return_4w > 0.01 and spy.price_vs_sma_50 > 0:
            risk_mode = "risk_on"
        elif spy.return_4w < -0.01 and spy.price_vs_sma_50 < 0:
            risk_mode = "risk_off"
    tlt = ret("TLT")
    rates = _impulse(-tlt if tlt is not None else None, 0.01)  # bond prices up means yields down
    inflation_parts = [r for r in (ret("GLD"), ret("USO")) if r is not None]
    growth_parts = [r for r in (ret("IWM"), ret("HYG")) if r is not None]
    regime = MacroRegime(
        risk_mode=risk_mode,
        rates_impulse=rates,
        usd_impulse=_impulse(ret("UUP"), 0.005),
        inflation_impulse=_impulse(sum(inflation_parts) / len(inflation_parts) if inflation_parts else None, 0.02),
        growth_impulse=_impulse(sum(growth_parts) / len(growth_parts) if growth_parts else None, 0.01),
    )
    scored = sorted(
        ((abs(_momentum(ind[i.symbol])), rng.random(), i.symbol) for i in universe if i.symbol in ind), reverse=True
    )
    candidates = [_candidate(ind[symbol]) for _, _, symbol in scored[:3]]
    flags = ["prices are SYNTHETIC (a seeded random market): no real market is described"] if snapshot.synthetic else []
    return schema.model_validate(
        {
            "macro_regime": regime.model_dump(),
            "top_narratives": [
                Narrative(
                    name=f"Risk appetite is {risk_mode.replace('_', ' ')}",
                    why_it_moves_prices_this_week=(
                        f"SPY is {_pct(spy.return_4w if spy else None)} over four weeks and "
                        f"{_pct(spy.price_vs_sma_50 if spy else None)} against its 50-day average."
                    ),
                    key_catalysts_next_7d=[],
                    what_would_falsify_it="A weekly close on the other side of the 50-day average.",
                ).model_dump(),
                Narrative(
                    name=f"Rates impulse {rates}",
                    why_it_moves_prices_this_week=f"TLT is {_pct(tlt)} over four weeks.",
                    key_catalysts_next_7d=[],
                    what_would_falsify_it="TLT reversing its four-week move.",
                ).model_dump(),
            ],
            "consensus_map": ConsensusMap(
                street_consensus=f"Trend-following: the market is read as {risk_mode.replace('_', ' ')}.",
                positioning_guess="Positioning follows the last four weeks' trend.",
                what_market_is_priced_for="Continuation of the current regime.",
                what_would_surprise="A reversal of the strongest four-week moves.",
            ).model_dump(),
            "tradable_candidates": [c.model_dump() for c in candidates],
            "event_calendar_next_7d": [],
            "confidence_notes": ConfidenceNotes(
                known_unknowns=["offline rules research: no news, no event calendar, prices only"],
                data_quality_flags=flags,
            ).model_dump(),
        }
    )


def _candidate(ind: IndicatorSet) -> Candidate:
    score = _momentum(ind)
    above = (ind.price_vs_sma_50 or 0) > 0
    bias = "LONG" if score > 0.5 and above else "SHORT" if score < -0.5 and not above else "FLAT"
    sma20 = f"{ind.sma_20:.2f}" if ind.sma_20 else "n/a"
    invalidation = {
        "LONG": f"close below the 20-day average ({sma20})",
        "SHORT": f"close above the 20-day average ({sma20})",
        "FLAT": "a 4-week move beyond one standard deviation",
    }[bias]
    trend = "continues" if bias != "FLAT" else "unclear"
    return Candidate(
        instrument=ind.symbol,
        directional_bias=bias,
        one_week_thesis=(
            f"{ind.symbol} is {_pct(ind.return_4w)} over four weeks ({score:+.2f} sigma) and "
            f"{_pct(ind.price_vs_sma_50)} against its 50-day average: trend {trend}."
        ),
        primary_risks=["trend reversal", f"20-day volatility {_pct(ind.realized_vol_20)} annualised"],
        watch_indicators=["return_1w", "price_vs_sma_20", "rsi_14"],
        invalidation_rule=invalidation,
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else signed_percent(value, 1)
