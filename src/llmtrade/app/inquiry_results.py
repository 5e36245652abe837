"""What `council`, `research` and `market snapshot` return (app/inquiries.py): frozen, typed results, as in
app/results.py, whose `Result` and `Usage` they use; DOCUMENTS their schemas."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ConfigDict, RootModel

from llmtrade.app.results import Result, Usage
from llmtrade.domain.council import CouncilAnswer, RankAggregate, Ranking
from llmtrade.domain.research import MarketSnapshot, ResearchPack


class CouncilFailure(Result):
    model: str
    stage: str
    error: str


class CouncilResult(Result):
    run_id: str
    mode: str
    query: str
    answers: list[CouncilAnswer]
    failures: list[CouncilFailure]
    rankings: list[Ranking]
    standings: list[RankAggregate]
    chairman: str
    verdict: str
    usage: Usage
    duration_ms: float


class ResearchPacks(RootModel[list[ResearchPack]]):
    """`research --json`: the week's packs (each carries its market snapshot)."""

    model_config = ConfigDict(frozen=True)


class ResearchResult(Result):
    week_id: date
    already_done: bool  # the packs were frozen by an earlier run and are shown, not rebuilt
    packs: ResearchPacks
    degraded: list[str]


class SnapshotResult(RootModel[MarketSnapshot]):
    model_config = ConfigDict(frozen=True)


# The `--json` document of each command, for `llmtrade schema COMMAND`.
DOCUMENTS: dict[str, Any] = {
    "council": CouncilResult,
    "research": ResearchPacks,
    "market snapshot": SnapshotResult,
}
