"""Pitches, peer review and the chairman's decision as pipeline stages of the weekly run.

Each stage freezes its outcome once for the week (pipeline/frozen.py), but only final failures are
frozen: a role whose call failed for a temporary reason is asked again by a rerun until the stage's
deadline (pipeline/retry.py; the deadline is schedule.yaml `retry_until`)."""

from __future__ import annotations

from typing import Any

from llmtrade.clock import Clock
from llmtrade.council.committee import Committee, aggregate_scores, review_id
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
from llmtrade.domain.events import EventPayload, InputsMissing, StoredEvent
from llmtrade.domain.streams import week_stream
from llmtrade.domain.wording import in_short
from llmtrade.errors import LlmtradeError, OperationalError
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.frozen import once
from llmtrade.pipeline.retry import Window, asked_with, failure_type, none_answered, settle
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.memory_keys import FLAGS, MEMORY_NOTES
from llmtrade.workflows.research_stages import DEGRADED, RESEARCH_PACKS

PITCHES = ContextKey("pitches", list[Pitch])
FAILED_PMS = ContextKey("failed_pms", list[str])
REVIEWS = ContextKey("reviews", list[Review])
SCORES = ContextKey("scores", list[AggregateScore])
DECISION = ContextKey("decision", Decision)
# The chairman's neutral labels by the PM whose pitch each stood for ("Pitch 4" -> "gpt"), for its reader.
PITCH_NAMES = ContextKey("pitch_names", dict[str, str])


def _degrade(context: PipelineContext, *notes: str) -> list[str]:
    return [*context.get(DEGRADED), *notes]


class _CommitteeStage:
    name = ""
    reads: tuple[ContextKey[Any], ...] = ()
    writes: tuple[ContextKey[Any], ...] = ()
    overlaps: bool = False

    def __init__(self, committee: Committee, events: EventStore, clock: Clock, window: Window | None = None):
        self.committee = committee
        self.events = events
        self.clock = clock
        # Without a window (no schedule to take a deadline from) temporary failures stop every run.
        self.window = window or Window(None, clock.now())

    def _stream(self, part: str) -> str:
        return week_stream(self.committee.week_id, part)


class PitchStage(_CommitteeStage):
    """Every PM's pitch, frozen once for the week on the pitches stream.

    A PM whose answer stayed invalid after its repair (or whose request was refused) is frozen as
    PitchFailed at once. A PM whose call failed for a temporary reason is not: before the deadline the
    stage stops with a TemporaryError (exit 75), keeping the pitches it got on the held stream, and a
    rerun asks only the PMs without one; from the deadline on the PM is frozen as PitchFailed too, with
    InputsMissing, and the degraded notes say its account stays flat (pipeline/retry.py)."""

    name = "pitches"
    reads = (RESEARCH_PACKS, DEGRADED, MEMORY_NOTES)
    writes = (PITCHES, FAILED_PMS, DEGRADED)

    async def run(self, context: PipelineContext) -> PipelineContext:
        packs = context.get(RESEARCH_PACKS)
        pms = {pm.id: pm for pm in self.committee.pms}

        async def ask(keys: list[str]) -> tuple[dict[str, PitchSubmitted], dict[str, LlmtradeError]]:
            pitches, failures = await self.committee.pitches(
                packs, self.clock, only=set(keys), memory=context.get(MEMORY_NOTES)
            )
            return {p.pm_id: PitchSubmitted(pitch=p) for p in pitches}, {f.pm.id: f.error for f in failures}

        async def build() -> list[EventPayload]:
            settled = await settle(
                self.events,
                stage=self.name,
                stream=self._stream(streams.PITCHES),
                keys=list(pms),
                answer_type=PitchSubmitted,
                ask=ask,
                window=self.window,
                week_id=self.committee.week_id,
                run_id=context.run_id,
                account_of=lambda key: pms[key].account,
                needs_an_answer=True,  # every PM failed: nothing stored, so held failures are asked again
                basis=lambda: asked_with(
                    self.committee.prompts.fingerprint(), self.committee.pms, self.committee.gateway.provider_settings()
                ),
            )
            failed = {**settled.failed, **settled.missing}
            if not settled.answers:
                # Store nothing: a rerun must be able to ask again once the models answer.
                reason = "; ".join(f"{key}: {error}" for key, error in failed.items())
                raise none_answered(f"every PM failed to pitch: {reason}", failed)
            return [
                *settled.answers.values(),
                *(
                    PitchFailed(
                        pm_id=key,
                        model=pms[key].model,
                        account_id=pms[key].account,
                        error_type=failure_type(error),
                        error=str(error),
                    )
                    for key, error in failed.items()
                ),
                *settled.inputs_missing(self.name),
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
        late = {key for e in _missing(stored) for key in e.missing}
        notes = [
            f"PM {f.pm_id} ({f.model}) failed to pitch"
            + (" (its provider was still unavailable at the deadline)" if f.pm_id in late else "")
            + f": {in_short(f.error)}"
            + f"; account {f.account_id} stays flat"
            for f in failed
        ]
        result = context.with_values(
            (PITCHES, pitches), (FAILED_PMS, [f.pm_id for f in failed]), (DEGRADED, _degrade(context, *notes))
        )
        return result if built else result.with_loaded(self.name)


class ReviewStage(_CommitteeStage):
    """Every PM's review of every other pitch (N x (N-1) calls), frozen once with the aggregate scores.

    A review still invalid after its repair is frozen as ReviewFailed at once. A review whose call failed
    for a temporary reason is not: before the deadline the stage stops with a TemporaryError (exit 75)
    and keeps the reviews it got on the held stream; a rerun asks only the missing (reviewer, pitch)
    pairs, so the matrix fills up without paying twice. From the deadline on the missing reviews are
    frozen as ReviewFailed with InputsMissing naming them, the scores are aggregated from the reviews
    there are, and the degraded notes name every missing review (and say so when none is left for the
    chairman to read)."""

    name = "peer_review"
    reads = (PITCHES, RESEARCH_PACKS, DEGRADED)
    writes = (REVIEWS, SCORES, DEGRADED)

    async def run(self, context: PipelineContext) -> PipelineContext:
        pitches = context.get(PITCHES)
        packs = context.get(RESEARCH_PACKS)
        pms = {pm.id: pm for pm in self.committee.pms}
        reviewer_of = {
            review_id(pms[p.pm_id], pitch): pms[p.pm_id]
            for p in pitches
            for pitch in pitches
            if p.pm_id in pms and pitch.pm_id != p.pm_id
        }
        pitch_of = {key: key.split(":by:")[0] for key in reviewer_of}

        async def ask(keys: list[str]) -> tuple[dict[str, ReviewSubmitted], dict[str, LlmtradeError]]:
            labelled, failures = await self.committee.reviews(pitches, packs, only=set(keys))
            answers = {lr.review.review_id: ReviewSubmitted(review=lr.review, labels=lr.labels) for lr in labelled}
            errors = {f"{f.pitch_id}:by:{f.reviewer.id}": f.error for f in failures}
            return answers, errors

        async def build() -> list[EventPayload]:
            settled = await settle(
                self.events,
                stage=self.name,
                stream=self._stream(streams.REVIEWS),
                keys=self.committee.review_ids(pitches),
                answer_type=ReviewSubmitted,
                ask=ask,
                window=self.window,
                week_id=self.committee.week_id,
                run_id=context.run_id,
                account_of=lambda key: reviewer_of[key].account,
                basis=lambda: asked_with(
                    self.committee.prompts.fingerprint(), self.committee.pms, self.committee.gateway.provider_settings()
                ),
            )
            reviews = [answer.review for answer in settled.answers.values()]
            return [
                *settled.answers.values(),
                *(
                    ReviewFailed(
                        reviewer_pm_id=reviewer_of[key].id,
                        model=reviewer_of[key].model,
                        error_type=failure_type(error),
                        error=str(error),
                        pitch_id=pitch_of[key],
                    )
                    for key, error in {**settled.failed, **settled.missing}.items()
                ),
                *settled.inputs_missing(self.name),
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
        notes = [
            f"review by {f.reviewer_pm_id}" + (f" of {f.pitch_id}" if f.pitch_id else "") + f" failed: {f.error}"
            for f in failed
        ]
        for gap in _missing(stored):
            notes.append(
                f"peer review: {len(gap.missing)} review(s) still unavailable at the deadline, the chairman decides "
                f"without them: {', '.join(gap.missing)}"
            )
        if failed and not reviews:
            notes.append("peer review: no review at all; the chairman decides on an empty review matrix")
        result = context.with_values((REVIEWS, reviews), (SCORES, scores), (DEGRADED, _degrade(context, *notes)))
        return result if built else result.with_loaded(self.name)


class ChairmanStage(_CommitteeStage):
    """The chairman's decision, frozen once on the decision stream.

    There is no degraded form of a decision (without one nothing can be traded), so a chairman call that
    fails stores nothing: a temporary failure stops the run with exit 75 whatever the deadline, and a rerun
    (or the next `run-due`, until the week's last session closes) asks again; the stages before it
    load what they froze, so only the chairman is asked."""

    name = "chairman"
    reads = (PITCHES, REVIEWS, SCORES, RESEARCH_PACKS, FLAGS)
    writes = (DECISION, PITCH_NAMES)

    async def run(self, context: PipelineContext) -> PipelineContext:
        pitches, reviews, scores = context.get(PITCHES), context.get(REVIEWS), context.get(SCORES)
        packs = context.get(RESEARCH_PACKS)

        async def build() -> list[EventPayload]:
            decision, labels = await self.committee.decide(
                pitches, reviews, scores, packs, self.clock, flags=context.get(FLAGS)
            )
            return [DecisionMade(decision=decision, labels=labels)]

        stored, built = await once(
            self.events,
            self._stream(streams.DECISION),
            build,
            week_id=self.committee.week_id,
            run_id=context.run_id,
            account_of=lambda _: self.committee.chairman.account,
        )
        made = DecisionMade.from_event(stored[0])
        pm_of = {p.idea_id: p.pm_id for p in pitches}
        names = {label: pm_of[idea] for label, idea in made.labels.items() if idea in pm_of}
        result = context.with_values((DECISION, made.decision), (PITCH_NAMES, names))
        return result if built else result.with_loaded(self.name)


def _missing(stored: list[StoredEvent]) -> list[InputsMissing]:
    return [InputsMissing.from_event(e) for e in stored if e.type == InputsMissing.event_type()]
