"""The market snapshot and research stages of the week.

Both are done once per week: their outputs are stored on the week's streams at version 1, and a
later run (or a checkpoint) reads what is stored instead of looking again. Two runs racing to
write them cannot both succeed: the loser reloads the winner's.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from llmtrade.agents import researcher
from llmtrade.config.models import Instrument, ResearchProviderRef
from llmtrade.domain import streams
from llmtrade.domain.events import EventPayload, InputsMissing
from llmtrade.domain.research import (
    MarketSnapshot,
    MarketSnapshotTaken,
    ResearchFindings,
    ResearchPack,
    ResearchPackBuilt,
    ResearchProviderFailed,
)
from llmtrade.domain.wording import in_short
from llmtrade.errors import LlmtradeError, OperationalError
from llmtrade.fanout import gather_settled
from llmtrade.llm.gateway import CallSite, LLMGateway
from llmtrade.market.service import MarketData
from llmtrade.market.snapshot import priced, week_snapshot
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.frozen import once
from llmtrade.pipeline.retry import Window, asked_with, failure_type, none_answered, settle
from llmtrade.prompts.renderer import PromptRenderer, RenderedPrompt
from llmtrade.storage.event_store import EventStore

ASOF = ContextKey("asof", datetime)
SNAPSHOT = ContextKey("market_snapshot", MarketSnapshot)
RESEARCH_PACKS = ContextKey("research_packs", list[ResearchPack])
DEGRADED = ContextKey("degraded", list[str])


def snapshot_stream(week_id: date) -> str:
    return streams.week_stream(week_id, streams.SNAPSHOT)


def research_stream(week_id: date) -> str:
    return streams.week_stream(week_id, streams.RESEARCH)


def stored_packs(events: EventStore, week_id: date) -> list[ResearchPack] | None:
    """The week's frozen packs (checkpoints read these), or None before research ran."""
    stream = events.read_stream(research_stream(week_id))
    if not stream:
        return None
    return [ResearchPackBuilt.from_event(e).pack for e in stream if e.type == ResearchPackBuilt.event_type()]


def left_out_notes(snapshot: MarketSnapshot) -> list[str]:
    """A degraded note per universe symbol the week's snapshot left out: which, why, and what to change."""
    return [
        f"market snapshot: {symbol} left out of this week's universe, its prices having ended: {why}; the week runs on "
        f"the other {len(snapshot.indicators)} symbols. Take {symbol} out of assets.yaml's universe (or give it "
        "prices to the last session) for the weeks after"
        for symbol, why in snapshot.left_out.items()
    ]


def _week(context: PipelineContext) -> date:
    if context.week_id is None:
        raise OperationalError("the research stages need a week")
    return context.week_id


class MarketSnapshotStage:
    name = "market_snapshot"
    reads = (ASOF,)
    writes = (SNAPSHOT,)
    overlaps = False

    def __init__(self, market: MarketData, symbols: list[str], events: EventStore):
        self.market = market
        self.symbols = symbols
        self.events = events

    async def run(self, context: PipelineContext) -> PipelineContext:
        week_id = _week(context)

        async def build() -> list[EventPayload]:
            return [MarketSnapshotTaken(snapshot=week_snapshot(self.market, self.symbols, context.get(ASOF)))]

        stored, built = await once(self.events, snapshot_stream(week_id), build, week_id=week_id, run_id=context.run_id)
        # Parsed once per stored event (the week's postmortem reads this one again: events.payload).
        result = context.with_value(SNAPSHOT, self.events.payload(MarketSnapshotTaken, stored[0]).snapshot)
        return result if built else result.with_loaded(self.name)


class ResearchStage:
    """Every research provider's pack, frozen once for the week on the research stream.

    A provider that failed for good (an answer invalid after its repair, a refused request) is frozen as
    ResearchProviderFailed. One that failed for a temporary reason is not: before `window`'s deadline
    the stage stops with a TemporaryError (exit 75) and keeps the packs it got on the held stream, so a
    rerun asks only the providers without one; from the deadline on it goes on without them, stores
    InputsMissing and names them in the degraded notes (pipeline/retry.py)."""

    name = "research"
    reads = (SNAPSHOT, ASOF)
    # Research starts the run's list of degradations; later stages add to it.
    writes = (RESEARCH_PACKS, DEGRADED)
    overlaps = False

    def __init__(
        self,
        gateway: LLMGateway,
        prompts: PromptRenderer,
        providers: list[ResearchProviderRef],
        universe: list[Instrument],
        events: EventStore,
        window: Window | None = None,
    ):
        self.gateway = gateway
        self.prompts = prompts
        self.providers = providers
        self.universe = universe
        self.events = events
        # Without a window (no schedule to take a deadline from) temporary failures stop every run.
        self.window = window or Window(None, datetime.now(UTC))

    async def run(self, context: PipelineContext) -> PipelineContext:
        week_id = _week(context)
        stored, built = await once(
            self.events,
            research_stream(week_id),
            lambda: self._research(context, week_id),
            week_id=week_id,
            run_id=context.run_id,
        )
        packs = [ResearchPackBuilt.from_event(e).pack for e in stored if e.type == ResearchPackBuilt.event_type()]
        if not packs:
            raise OperationalError(f"no research pack for week {week_id}: every research provider failed")
        degraded = left_out_notes(context.get(SNAPSHOT))
        missing = len(self.providers) - len(packs)
        if missing > 0:
            failed = [
                ResearchProviderFailed.from_event(e) for e in stored if e.type == ResearchProviderFailed.event_type()
            ]
            why = "; ".join(f"{f.label} ({f.model}): {in_short(f.error)}" for f in failed)
            degraded.append(
                f"research: {missing} of {len(self.providers)} providers failed" + (f": {why}" if why else "")
            )
        for gap in (InputsMissing.from_event(e) for e in stored if e.type == InputsMissing.event_type()):
            degraded.append(f"research: no pack from {', '.join(gap.missing)} (still unavailable at the deadline)")
        result = context.with_values((RESEARCH_PACKS, packs), (DEGRADED, degraded))
        return result if built else result.with_loaded(self.name)

    async def _research(self, context: PipelineContext, week_id: date) -> list[EventPayload]:
        snapshot = context.get(SNAPSHOT)
        asof = context.get(ASOF)
        universe = priced(self.universe, snapshot)
        site = CallSite(role=researcher.ROLE, run_id=context.run_id, week_id=week_id)
        by_id = {ref.id: ref for ref in self.providers}
        rendered: list[RenderedPrompt] = []  # every provider is asked the same prompt: rendered once

        async def one(ref: ResearchProviderRef) -> ResearchFindings:
            # Rendered in the call, as before: a template error is each provider's failure, not the stage's.
            if not rendered:
                rendered.append(researcher.research_prompt(self.prompts, universe, snapshot, week_id, asof))
            return await researcher.research(self.gateway, rendered[0], ref, universe, snapshot, site)

        async def ask(keys: list[str]) -> tuple[dict[str, ResearchPackBuilt], dict[str, LlmtradeError]]:
            refs = [by_id[key] for key in keys]
            answered, failed = await gather_settled(refs, [one(ref) for ref in refs], hold_on_stop=True)
            packs = {}
            for ref, findings in answered:
                pack = ResearchPack(
                    **findings.model_dump(),
                    week_id=week_id,
                    asof_et=asof,
                    research_source=f"{ref.id}: {ref.model} ({self.gateway.mode.value})",
                    label=ref.id,
                    snapshot=snapshot,
                )
                packs[ref.id] = ResearchPackBuilt(pack=pack, content_hash=pack.content_hash())
            return packs, {ref.id: error for ref, error in failed}

        settled = await settle(
            self.events,
            stage=self.name,
            stream=research_stream(week_id),
            keys=list(by_id),
            answer_type=ResearchPackBuilt,
            ask=ask,
            window=self.window,
            week_id=week_id,
            run_id=context.run_id,
            needs_an_answer=True,  # every provider failed: nothing stored, so held failures are asked again
            basis=lambda: asked_with(self.prompts.fingerprint(), self.providers, self.gateway.provider_settings()),
        )
        failed = {**settled.failed, **settled.missing}
        if not settled.answers:
            # Store nothing: a rerun must be able to try again once the providers answer.
            reasons = "; ".join(f"{key} ({by_id[key].model}): {error}" for key, error in failed.items())
            raise none_answered(f"every research provider failed: {reasons}", failed)
        payloads: list[EventPayload] = list(settled.answers.values())
        for key, error in failed.items():
            payloads.append(
                ResearchProviderFailed(
                    label=key, model=by_id[key].model, error_type=failure_type(error), error=str(error)
                )
            )
        return [*payloads, *settled.inputs_missing(self.name)]
