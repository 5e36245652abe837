"""Pitches, peer review and the chairman's decision as pipeline stages of the weekly run."""

from __future__ import annotations

from typing import Any

from llmtrade.clock import Clock
from llmtrade.council.committee import Committee, aggregate_scores
from llmtrade.domain import streams
from llmtrade.domain.committee import (
    AggregateScore,
    Decision,
    DecisionMade,
    Pitch,
    PitchFailed,
    PitchSubmitted,
    Review,
    ReviewFailed,
    ReviewsAggregated,
    ReviewSubmitted,
)
from llmtrade.domain.events import EventPayload
from llmtrade.domain.streams import week_stream
from llmtrade.errors import OperationalError
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.frozen import once
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.research_stages import DEGRADED, RESEARCH_PACKS

PITCHES = ContextKey("pitches", list[Pitch])
FAILED_PMS = ContextKey("failed_pms", list[str])
REVIEWS = ContextKey("reviews", list[Review])
SCORES = ContextKey("scores", list[AggregateScore])
DECISION = ContextKey("decision", Decision)


def _degrade(context: PipelineContext, *notes: str) -> list[str]:
    return [*context.get(DEGRADED), *notes]


class _CommitteeStage:
    name = ""
    reads: tuple[ContextKey[Any], ...] = ()
    writes: tuple[ContextKey[Any], ...] = ()

    def __init__(self, committee: Committee, events: EventStore, clock: Clock):
        self.committee = committee
        self.events = events
        self.clock = clock

    def _stream(self, part: str) -> str:
        return week_stream(self.committee.week_id, part)


class PitchStage(_CommitteeStage):
    name = "pitches"
    reads = (RESEARCH_PACKS, DEGRADED)
    writes = (PITCHES, FAILED_PMS, DEGRADED)

    async def run(self, context: PipelineContext) -> PipelineContext:
        packs = context.get(RESEARCH_PACKS)

        async def build() -> list[EventPayload]:
            pitches, failures = await self.committee.pitches(packs, self.clock.now())
            if not pitches:
                # Store nothing: a rerun must be able to ask again once the models answer.
                raise OperationalError(
                    "every PM failed to pitch: " + "; ".join(f"{f.pm.id}: {f.error}" for f in failures)
                )
            return [
                *(PitchSubmitted(pitch=p) for p in pitches),
                *(
                    PitchFailed(
                        pm_id=f.pm.id,
                        model=f.pm.model,
                        account_id=f.pm.account,
                        error_type=type(f.error).__name__,
                        error=str(f.error),
                    )
                    for f in failures
                ),
            ]

        stored, built = await once(
            self.events,
            self._stream(streams.PITCHES),
            build,
            week_id=self.committee.week_id,
            run_id=context.run_id,
            account_of=lambda p: (
                getattr(p, "account_id", None) or getattr(getattr(p, "pitch", None), "account_id", None)
            ),
        )
        pitches = [PitchSubmitted.from_event(e).pitch for e in stored if e.type == PitchSubmitted.event_type()]
        failed = [PitchFailed.from_event(e) for e in stored if e.type == PitchFailed.event_type()]
        if not pitches:
            raise OperationalError("every PM failed to pitch: " + "; ".join(f"{f.pm_id}: {f.error}" for f in failed))
        notes = [f"PM {f.pm_id} ({f.model}) failed to pitch; account {f.account_id} stays flat" for f in failed]
        result = context.with_values(
            (PITCHES, pitches), (FAILED_PMS, [f.pm_id for f in failed]), (DEGRADED, _degrade(context, *notes))
        )
        return result if built else result.with_loaded(self.name)


class ReviewStage(_CommitteeStage):
    name = "peer_review"
    reads = (PITCHES, RESEARCH_PACKS, DEGRADED)
    writes = (REVIEWS, SCORES, DEGRADED)

    async def run(self, context: PipelineContext) -> PipelineContext:
        pitches = context.get(PITCHES)
        packs = context.get(RESEARCH_PACKS)

        async def build() -> list[EventPayload]:
            labelled, failures = await self.committee.reviews(pitches, packs)
            reviews = [lr.review for lr in labelled]
            return [
                *(ReviewSubmitted(review=lr.review, labels=lr.labels) for lr in labelled),
                *(
                    ReviewFailed(
                        reviewer_pm_id=f.reviewer.id,
                        model=f.reviewer.model,
                        error_type=type(f.error).__name__,
                        error=str(f.error),
                    )
                    for f in failures
                ),
                ReviewsAggregated(scores=aggregate_scores(pitches, reviews)),
            ]

        stored, built = await once(
            self.events, self._stream(streams.REVIEWS), build, week_id=self.committee.week_id, run_id=context.run_id
        )
        reviews = [ReviewSubmitted.from_event(e).review for e in stored if e.type == ReviewSubmitted.event_type()]
        failed = [ReviewFailed.from_event(e) for e in stored if e.type == ReviewFailed.event_type()]
        scores = next(
            ReviewsAggregated.from_event(e).scores for e in stored if e.type == ReviewsAggregated.event_type()
        )
        notes = [f"review by {f.reviewer_pm_id} failed: {f.error}" for f in failed]
        result = context.with_values((REVIEWS, reviews), (SCORES, scores), (DEGRADED, _degrade(context, *notes)))
        return result if built else result.with_loaded(self.name)


class ChairmanStage(_CommitteeStage):
    name = "chairman"
    reads = (PITCHES, REVIEWS, SCORES, RESEARCH_PACKS)
    writes = (DECISION,)

    async def run(self, context: PipelineContext) -> PipelineContext:
        pitches, reviews, scores = context.get(PITCHES), context.get(REVIEWS), context.get(SCORES)
        packs = context.get(RESEARCH_PACKS)

        async def build() -> list[EventPayload]:
            decision, labels = await self.committee.decide(pitches, reviews, scores, packs, self.clock.now())
            return [DecisionMade(decision=decision, labels=labels)]

        stored, built = await once(
            self.events,
            self._stream(streams.DECISION),
            build,
            week_id=self.committee.week_id,
            run_id=context.run_id,
            account_of=lambda _: self.committee.chairman.account,
        )
        result = context.with_value(DECISION, DecisionMade.from_event(stored[0]).decision)
        return result if built else result.with_loaded(self.name)
