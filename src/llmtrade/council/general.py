"""The general council of `llmtrade council "query"`, in three steps.

1. every member answers, concurrently;
2. every member ranks the others' answers, shown under letters shuffled for it alone, never its
   own answer and never a model name;
3. the chairman sees the answers under neutral labels and the mean ranks, and answers for all.

A member that fails is recorded and left out; the council needs two answers to go on. An empty,
truncated or errored reply is a failure (the gateway's reply normaliser raises it), never an answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmtrade.agents import council_chair, council_member, council_ranker
from llmtrade.config.models import ModelRef
from llmtrade.council.aggregate import mean_ranks
from llmtrade.council.anonymize import labels_for
from llmtrade.domain.council import CouncilAnswer, RankAggregate, Ranking
from llmtrade.errors import LlmtradeError, OperationalError
from llmtrade.exits import all_failed
from llmtrade.fanout import gather_settled
from llmtrade.llm.gateway import CallSite, LLMGateway
from llmtrade.prompts.renderer import PromptRenderer


@dataclass(frozen=True)
class MemberFailure:
    model: str
    stage: str
    error: LlmtradeError


@dataclass(frozen=True)
class Verdict:
    answer: str
    # neutral label -> model, so the report can say who was behind "Answer 2" after the fact
    labels: dict[str, str]


class GeneralCouncil:
    def __init__(
        self,
        gateway: LLMGateway,
        prompts: PromptRenderer,
        members: Sequence[ModelRef],
        chairman: ModelRef,
        run_id: str,
    ):
        models = [m.model for m in members]
        if len(set(models)) != len(models):
            raise OperationalError(f"council members must be distinct models, got {models}")
        if len(members) < 2:
            raise OperationalError("a council needs at least two members")
        self.gateway = gateway
        self.prompts = prompts
        self.members = list(members)
        self.chairman = chairman
        self.run_id = run_id

    async def answers(self, query: str) -> tuple[list[CouncilAnswer], list[MemberFailure]]:
        answered, failed = await gather_settled(
            self.members,
            [
                council_member.answer(self.gateway, self.prompts, ref, query, self._site("council_answer"))
                for ref in self.members
            ],
        )
        answers = [CouncilAnswer(model=ref.model, text=answer.value) for ref, answer in answered]
        failures = [MemberFailure(ref.model, "answers", error) for ref, error in failed]
        if len(answers) < 2:
            reasons = "; ".join(f"{f.model}: {f.error}" for f in failures)
            # Rate limits and outages pass: exit 75 so a scheduler tries again rather than paging someone.
            message = f"the council needs at least two answers, got {len(answers)} ({reasons})"
            raise all_failed(message, [f.error for f in failures])
        return answers, failures

    async def rankings(self, query: str, answers: Sequence[CouncilAnswer]) -> tuple[list[Ranking], list[MemberFailure]]:
        refs = {ref.model: ref for ref in self.members}
        texts = {a.model: a.text for a in answers}

        async def one(reviewer: str) -> Ranking:
            others = [model for model in texts if model != reviewer]
            labels = labels_for(others, reader=reviewer, salt=query)
            shown = {label: texts[model] for label, model in labels.items()}
            answer = await council_ranker.rank(
                self.gateway, self.prompts, refs[reviewer], query, shown, self._site("council_ranking")
            )
            ranked = answer.value
            return Ranking(
                reviewer=reviewer,
                labels=labels,
                order=[labels[label] for label in ranked.order()],
                critiques={labels[label]: a.critique for label, a in ranked.by_label().items()},
            )

        reviewers = list(texts)
        ranked, failed = await gather_settled(reviewers, [one(r) for r in reviewers])
        rankings = [ranking for _, ranking in ranked]
        failures = [MemberFailure(reviewer, "rankings", error) for reviewer, error in failed]
        if not rankings:
            reasons = "; ".join(f"{f.model}: {f.error}" for f in failures)
            message = f"no council member produced a usable ranking ({reasons})"
            raise all_failed(message, [f.error for f in failures])
        return rankings, failures

    def aggregate(self, rankings: Sequence[Ranking]) -> list[RankAggregate]:
        return mean_ranks([r.order for r in rankings])

    async def conclude(
        self, query: str, answers: Sequence[CouncilAnswer], standings: Sequence[RankAggregate]
    ) -> Verdict:
        shuffled = labels_for([a.model for a in answers], reader="chairman", salt=query)
        neutral = {f"Answer {i}": model for i, model in enumerate(shuffled.values(), start=1)}
        by_model = {model: label for label, model in neutral.items()}
        texts = {a.model: a.text for a in answers}
        shown = {label: texts[model] for label, model in neutral.items()}
        ranks = [(by_model[row.model], row.mean_rank) for row in standings if row.model in by_model]
        answer = await council_chair.conclude(
            self.gateway, self.prompts, self.chairman, query, shown, ranks, self._site("council_chairman")
        )
        return Verdict(answer=answer.value, labels=neutral)

    def _site(self, role: str) -> CallSite:
        return CallSite(role=role, run_id=self.run_id)
