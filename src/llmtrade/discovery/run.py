"""One discovery run: every candidate's features as of a session, every picker's judgement, the
ensemble, the watchlist and the disagreements, and the events that record them."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from llmtrade.agents import picker as llm_picker
from llmtrade.config.candidates import CandidateInstrument
from llmtrade.config.models import BENCHMARK, ModelRef
from llmtrade.config.sections import DiscoveryConfig
from llmtrade.discovery import ensemble, pickers
from llmtrade.discovery.features import MIN_SESSIONS, features
from llmtrade.discovery.watchlist import Watchlist
from llmtrade.domain.discovery import (
    CandidateFeatures,
    Disagreement,
    Suggestion,
    SuggestionsMade,
    WatchlistEntry,
    WatchlistSet,
    suggestion,
)
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import DISCOVERY
from llmtrade.errors import LlmtradeError, MarketDataError, TemporaryError
from llmtrade.llm.gateway import CallSite, LLMGateway
from llmtrade.market.daily_bars import DailyBars
from llmtrade.market.held_prices import held_bars
from llmtrade.prompts.renderer import PromptRenderer


@dataclass(frozen=True)
class Discovery:
    """What one run found. `scores` has every picker's suggestions (every candidate, ranked)."""

    asof: datetime
    session: date
    candidates: list[CandidateFeatures]
    skipped: list[str]  # candidates without enough history to judge
    scores: dict[str, list[Suggestion]]
    watchlist: list[WatchlistEntry]
    disagreements: list[Disagreement]
    dropped: list[str]  # the LLM picker's answers that resolved to no candidate
    llm_model: str
    llm_cost_usd: float | None
    llm_rules: bool  # the offline rules answered in the LLM picker's place
    market_view: str
    # Of `skipped`, the candidates whose prices could not be read, and why (a CSV file with a row it cannot read).
    unread: dict[str, str] = field(default_factory=dict)

    def events(self, run_id: str) -> list[NewEvent]:
        made = [
            SuggestionsMade(
                picker=name,  # type: ignore[arg-type]
                asof=self.asof,
                session=self.session,
                suggestions=rows,
                cost_usd=(self.llm_cost_usd or 0.0) if name == "llm" else 0.0,
                model=self.llm_model if name == "llm" else None,
            )
            for name, rows in self.scores.items()
        ]
        listed = WatchlistSet(
            asof=self.asof, session=self.session, entries=self.watchlist, disagreements=self.disagreements
        )
        return [NewEvent.of(p, stream=DISCOVERY, run_id=run_id) for p in [*made, listed]]


# Sessions of bars read for a candidate's features: the momentum window's and a few to spare.
FEATURE_SESSIONS = MIN_SESSIONS + 5

Featured = tuple[date, list[CandidateFeatures], list[str]]
# What `candidate_features(market, ...)` answers, however the features are had (a backtest's held bars).
FeatureReader = Callable[[Sequence[CandidateInstrument], datetime], Featured]


def candidate_features(
    market: DailyBars,
    candidates: Sequence[CandidateInstrument],
    asof: datetime,
    unread: dict[str, str] | None = None,
) -> Featured:
    """The last complete session at `asof`, each candidate's features as of it, and the ones skipped. When the read of
    all fails for good (one candidate's CSV file with a row it cannot read, a symbol a provider refuses), each is read
    alone and the ones that fail are skipped, why in `unread` (filled in when given): one bad file among a hundred
    candidates failed the whole discovery (exit 2). A temporary failure (a provider not reached) still raises."""
    session = market.calendar.last_completed_session(asof)
    if session is None:
        raise MarketDataError(f"no completed trading session before {asof.isoformat()}")
    symbols = [c.symbol for c in candidates]
    try:
        bars = dict(market.bars_asof(symbols, asof, sessions=FEATURE_SESSIONS).bars)
    except LlmtradeError as exc:
        if isinstance(exc, TemporaryError) or len(symbols) < 2:
            raise
        bars, problems = held_bars(market, symbols, asof, sessions=FEATURE_SESSIONS)
        if unread is not None:
            unread.update(problems)
    found, skipped = sort_out(
        candidates,
        lambda c: features(
            c.symbol, bars.get(c.symbol, []), asset_class=c.asset_class.value, name=c.name, sector=c.sector
        ),
    )
    return session, found, skipped


def _why_none(unread: Mapping[str, str], skipped: Sequence[str]) -> str:
    """Why no candidate could be judged, for the message: the reads that failed (a few named, with why) and the
    candidates read with too little history. A trial's CSV folder, its files ending months before now, was told only
    "no discovery candidate has enough history to judge"; the files and their last days showed under --verbose alone."""
    if not unread and not skipped:
        return (
            ": there was none to judge (none can be priced here: a CSV folder that is the only price source holds a "
            "file for none of them, or the broker lists none as active)"
        )
    said = ""
    if unread:
        named = "; ".join(f"{symbol}: {why}" for symbol, why in list(unread.items())[:3])
        more = f" (and {len(unread) - 3} more)" if len(unread) > 3 else ""
        said += f": {len(unread)} could not be read ({named}{more})"
    short = [s for s in skipped if s not in unread]
    if short:
        said += f"{'; ' if said else ': '}{len(short)} had too few sessions of prices ({', '.join(short[:5])}"
        said += f"{', ...' if len(short) > 5 else ''})"
    return said


def sort_out(
    candidates: Sequence[CandidateInstrument], row_of: Callable[[CandidateInstrument], CandidateFeatures | None]
) -> tuple[list[CandidateFeatures], list[str]]:
    """Each candidate's features (`row_of`, None: not enough history), in order, and the symbols without."""
    found, skipped = [], []
    for c in candidates:
        row = row_of(c)
        if row is None:
            skipped.append(c.symbol)
        else:
            found.append(row)
    return found, skipped


def condition(candidates: Sequence[CandidateFeatures]) -> str:
    """The market condition in one line, from the benchmark's features (what the LLM picker is told)."""
    spy = next((c for c in candidates if c.symbol == BENCHMARK), None)
    if spy is None:
        return "unknown (no benchmark data)"
    trend = "rising" if spy.momentum > 0.02 else "falling" if spy.momentum < -0.02 else "flat"
    return f"{BENCHMARK} {trend}: {spy.momentum:+.1%} over the momentum window at {spy.volatility:.0%} volatility"


async def discover(
    market: DailyBars,
    candidates: Sequence[CandidateInstrument],
    settings: DiscoveryConfig,
    *,
    gateway: LLMGateway,
    prompts: PromptRenderer,
    ref: ModelRef,
    asof: datetime,
    site: CallSite,
    current: Watchlist,
    similar_conditions: Sequence[str] = (),
    features_of: FeatureReader | None = None,
) -> Discovery:
    """Score every candidate with every picker and build the watchlist (with `current`'s manual edits);
    `similar_conditions`: the memory's lines the LLM picker is shown (app/discovery_memory.py), if any;
    `features_of`: reads the candidates' features as `candidate_features(market, ...)` does (the default)."""
    unread: dict[str, str] = {}
    if features_of is None:
        session, rows, skipped = candidate_features(market, candidates, asof, unread)
    else:
        session, rows, skipped = features_of(candidates, asof)
    if not rows:
        raise MarketDataError(f"no discovery candidate has enough history to judge{_why_none(unread, skipped)}")
    picked = await llm_picker.pick(
        gateway,
        prompts,
        ref,
        rows,
        condition=condition(rows),
        asof=asof,
        session=session,
        most=settings.llm_picks,
        site=site,
        similar_conditions=similar_conditions,
    )
    llm = _llm_suggestions(rows, picked.picks)
    metric = pickers.metric(rows, settings)
    fuzzy = pickers.fuzzy(rows, settings)
    combined = ensemble.combine(metric, fuzzy, llm, settings.ensemble_weights)
    classes = {c.symbol: c.asset_class for c in rows} | current.include
    return Discovery(
        asof=asof,
        session=session,
        candidates=rows,
        skipped=skipped,
        unread=unread,
        scores={
            "metric": metric,
            "fuzzy": fuzzy,
            "llm": llm,
            "random": pickers.random_control(rows, session),
            "momentum": pickers.momentum(rows),
            "ensemble": combined,
        },
        watchlist=ensemble.watchlist(
            combined,
            classes,
            size=settings.watchlist_size,
            include=[s for s in current.include if s in classes],
            exclude=current.exclude,
        ),
        disagreements=ensemble.disagreements(metric, llm),
        dropped=picked.dropped,
        llm_model=picked.model,
        llm_cost_usd=picked.cost_usd,
        llm_rules=picked.rules,
        market_view=picked.market_view,
    )


def _llm_suggestions(rows: Sequence[CandidateFeatures], picks: Sequence[tuple[str, str]]) -> list[Suggestion]:
    """The picks ranked first (score 1 for the first down to 1/k for the k-th), then every other
    candidate at score 0 in symbol order, so the LLM picker too has judged the whole set."""
    k = len(picks)
    out = [suggestion(s, i + 1, round(1 - i / k, 6), reason) for i, (s, reason) in enumerate(picks)]
    chosen = {s for s, _ in picks}
    rest = sorted(c.symbol for c in rows if c.symbol not in chosen)
    out += [suggestion(s, k + 1 + i, 0.0, "not picked") for i, s in enumerate(rest)]
    return out
