"""Records of the general council (`llmtrade council "query"`): answers, rankings, the verdict."""

from __future__ import annotations

from typing import Any, ClassVar

from llmtrade.domain.events import EventPayload
from llmtrade.domain.records import Record


class CouncilAnswer(Record):
    model: str
    text: str


class Ranking(Record):
    """One reviewer's ranking, translated back from its private labels to models."""

    reviewer: str
    labels: dict[str, str]  # label shown to this reviewer -> model behind it
    order: list[str]  # models, best first
    critiques: dict[str, str]  # model -> the reviewer's assessment of its answer


class RankAggregate(Record):
    model: str
    mean_rank: float
    votes: int


class CouncilConvened(EventPayload):
    query: str
    members: list[str]
    chairman: str


class CouncilMemberAnswered(EventPayload):
    model: str
    answer: str


class CouncilMemberFailed(EventPayload):
    model: str
    stage: str
    error_type: str
    error: str


class CouncilMemberRanked(EventPayload):
    reviewer: str
    labels: dict[str, str]
    order: list[str]
    critiques: dict[str, str]


class CouncilRankingsAggregated(EventPayload):
    ranking: list[RankAggregate]


class CouncilConcluded(EventPayload):
    """The chairman's answer as it said it, citing answers by the neutral labels it was shown ("Answer 2"), and
    `labels`: each of those labels -> the model behind it, shuffled for the chairman (council/general.py). Without
    them the record named no one: "Answer 2" could not be told apart from the second answer listed (schema 1, before
    a new user's trial found it; read with `labels` None: not recorded then, and not to be rebuilt from this event)."""

    schema_version: ClassVar[int] = 2

    chairman: str
    answer: str
    labels: dict[str, str] | None

    @staticmethod
    def upcast_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "labels": None}
