"""The general council as three pipeline stages; each stores its output as events before the next."""

from __future__ import annotations

from typing import Any

from llmtrade.council.general import GeneralCouncil, MemberFailure, Verdict
from llmtrade.domain.council import (
    CouncilAnswer,
    CouncilConcluded,
    CouncilMemberAnswered,
    CouncilMemberFailed,
    CouncilMemberRanked,
    CouncilRankingsAggregated,
    RankAggregate,
    Ranking,
)
from llmtrade.domain.events import EventPayload, EventSink, NewEvent
from llmtrade.domain.streams import council_stream
from llmtrade.pipeline.context import ContextKey, PipelineContext

QUERY = ContextKey("query", str)
ANSWERS = ContextKey("council_answers", list[CouncilAnswer])
RANKINGS = ContextKey("council_rankings", list[Ranking])
STANDINGS = ContextKey("council_standings", list[RankAggregate])
FAILURES = ContextKey("council_failures", list[MemberFailure])
VERDICT = ContextKey("council_verdict", Verdict)


class _CouncilStage:
    name = ""
    reads: tuple[ContextKey[Any], ...] = ()
    writes: tuple[ContextKey[Any], ...] = ()
    overlaps: bool = False

    def __init__(self, council: GeneralCouncil, events: EventSink):
        self.council = council
        self.events = events

    def record(self, context: PipelineContext, payloads: list[EventPayload]) -> None:
        self.events.append(
            [NewEvent.of(p, stream=council_stream(context.run_id), run_id=context.run_id) for p in payloads]
        )

    @staticmethod
    def failed(failures: list[MemberFailure]) -> list[EventPayload]:
        return [
            CouncilMemberFailed(model=f.model, stage=f.stage, error_type=type(f.error).__name__, error=str(f.error))
            for f in failures
        ]


class AnswersStage(_CouncilStage):
    name = "answers"
    reads = (QUERY,)
    writes = (ANSWERS, FAILURES)

    async def run(self, context: PipelineContext) -> PipelineContext:
        answers, failures = await self.council.answers(context.get(QUERY))
        self.record(
            context, [CouncilMemberAnswered(model=a.model, answer=a.text) for a in answers] + self.failed(failures)
        )
        return context.with_values((ANSWERS, answers), (FAILURES, failures))


class RankingsStage(_CouncilStage):
    name = "rankings"
    reads = (QUERY, ANSWERS, FAILURES)
    writes = (RANKINGS, STANDINGS, FAILURES)

    async def run(self, context: PipelineContext) -> PipelineContext:
        rankings, failures = await self.council.rankings(context.get(QUERY), context.get(ANSWERS))
        standings = self.council.aggregate(rankings)
        self.record(
            context,
            [
                *(
                    CouncilMemberRanked(reviewer=r.reviewer, labels=r.labels, order=r.order, critiques=r.critiques)
                    for r in rankings
                ),
                *self.failed(failures),
                CouncilRankingsAggregated(ranking=standings),
            ],
        )
        return context.with_values(
            (RANKINGS, rankings), (STANDINGS, standings), (FAILURES, [*context.get(FAILURES), *failures])
        )


class ChairmanStage(_CouncilStage):
    name = "chairman"
    reads = (QUERY, ANSWERS, STANDINGS)
    writes = (VERDICT,)

    async def run(self, context: PipelineContext) -> PipelineContext:
        verdict = await self.council.conclude(context.get(QUERY), context.get(ANSWERS), context.get(STANDINGS))
        self.record(
            context,
            [
                CouncilConcluded(
                    chairman=self.council.chairman.model, answer=verdict.answer, labels=dict(verdict.labels)
                )
            ],
        )
        return context.with_value(VERDICT, verdict)


def council_stages(council: GeneralCouncil, events: EventSink) -> list[_CouncilStage]:
    return [AnswersStage(council, events), RankingsStage(council, events), ChairmanStage(council, events)]
