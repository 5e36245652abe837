"""The frozen results of `discover` and `watchlist`: `--json` is their dump, DOCUMENTS their schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from llmtrade.config.sections import EnsembleWeights
from llmtrade.discovery.performance import PickerPerformance
from llmtrade.domain.discovery import Disagreement, Suggestion, WatchlistEntry


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PickerTop(_Result):
    """One picker's best suggestions this run (its full ranking is in the run's SuggestionsMade event)."""

    picker: str
    top: list[Suggestion]


class DiscoverResult(_Result):
    run_id: str
    asof: datetime
    session: date
    source: str  # where the candidates came from: packaged, or alpaca (packaged narrowed by the assets API)
    candidates: int
    skipped: list[str]  # candidates with too little history to judge
    pickers: list[PickerTop]
    watchlist: list[WatchlistEntry]
    disagreements: list[Disagreement]
    dropped: list[str]  # LLM picks that resolved to no candidate
    llm_model: str
    llm_cost_usd: float | None
    llm_rules: bool  # the offline rules answered in the LLM picker's place ($0, no model asked)
    market_view: str
    # Whether the candidates were judged on the seeded synthetic market's prices (the offline demo's): every score and
    # pick is made up. Read from the run's own MarketDataFetched events.
    synthetic: bool = False


class WatchlistResult(_Result):
    asof: datetime | None  # the discovery run the list comes from; None before the first
    entries: list[WatchlistEntry]
    include: list[str]
    exclude: list[str]
    disagreements: list[Disagreement]
    universe_mode: str
    # The week now under way, when its universe is already fixed (watchlist modes: by the week's first job), so a
    # change to the watchlist reaches the committee from the next week's; None otherwise.
    fixed_week: date | None = None


class PerformanceResult(_Result):
    """Per picker at one horizon, from what had matured by `asof_session`; see discovery/performance.py."""

    asof_session: date | None
    horizon: int  # sessions
    top: int  # how many of each picker's best count as its picks (the watchlist size)
    judged_sessions: int
    matured_sessions: int
    # Candidates judged in the matured sessions without a forward return (prices missing for good, e.g. a CSV file
    # gone): left out of every statistic, not counted as a zero return; each session's counted once.
    unmeasured_picks: int
    pickers: list[PickerPerformance]
    weights: EnsembleWeights  # configured
    refit_weights: EnsembleWeights  # re-fitted from the matured outcomes alone
    # Whether the discoveries judged were made on the seeded synthetic market's prices (their runs' MarketDataFetched).
    synthetic: bool = False
    backtest: str | None = None  # the backtest whose books were read; None: the live books
    # The most candidates a judged session had. At `top` or fewer, every picker's picks are every candidate, and no
    # figure can tell the pickers apart (a trial's 7-ETF folder: each picker's best 20 were the same 7).
    judged_candidates: int = 0
    # The LLM picker's model's knowledge cutoff (research[0]'s) and how many matured sessions were judged on or before
    # it (app/picker_cutoff.py): None when it gives none, or none applies (synthetic prices, offline answers).
    knowledge_cutoff: date | None = None
    read_sessions: int | None = None
    cutoff_note: str | None = None
    # The evidence beside the whole-range rows: the llm and ensemble pickers over the matured sessions judged after that
    # cutoff alone (app/picker_cutoff.py `after_cutoff`). None when no cutoff applies, as `knowledge_cutoff`.
    after_cutoff: list[PickerPerformance] | None = Field(
        None,
        description="the llm and ensemble rows (as in `pickers`) over the matured sessions judged after the LLM "
        "picker's knowledge_cutoff alone, the evidence (`pickers` counts every matured session, those its model may "
        "have read about in training included); [] when none was judged after it; null when no cutoff applies "
        "(none given, synthetic prices, offline answers, no LLM pick matured)",
    )
    after_cutoff_sessions: int | None = Field(
        None, description="matured sessions judged after the LLM picker's knowledge_cutoff; null as after_cutoff"
    )


DOCUMENTS: dict[str, Any] = {
    "discover": DiscoverResult,
    "discover performance": PerformanceResult,
    "watchlist show": WatchlistResult,
    "watchlist add": WatchlistResult,
    "watchlist remove": WatchlistResult,
}
