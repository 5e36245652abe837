"""Records of the general council (`llmtrade council "query"`): answers, rankings, the verdict."""

from __future__ import annotations

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
    chairman: str
    answer: str
