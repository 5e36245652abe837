"""Council ranker: assesses and ranks the other members' answers, shown under private labels.

The schema is built per reviewer: its labels are the only values it may use, it must assess
every answer it was shown exactly once, and its ranking must be a permutation of those labels.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from llmtrade.agents.prompting import as_messages
from llmtrade.config.models import ModelRef
from llmtrade.llm.gateway import Answer, CallSite, LLMGateway
from llmtrade.prompts.renderer import PromptRenderer

ROLE = "council_ranking"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def ranking_schema(labels: list[str]) -> type[BaseModel]:
    """The answer model for a reviewer shown `labels`."""
    label_type: Any = Literal[tuple(labels)]  # type: ignore[valid-type]
    n = len(labels)

    class Assessment(_Strict):
        label: label_type
        critique: str = Field(min_length=1, max_length=3000)

    class CouncilRanking(_Strict):
        assessments: list[Assessment] = Field(min_length=n, max_length=n)
        ranking: list[label_type] = Field(min_length=n, max_length=n, description="labels, best first")

        @model_validator(mode="after")
        def _covers_every_label(self) -> CouncilRanking:
            assessed = [a.label for a in self.assessments]
            if sorted(assessed) != sorted(labels):
                raise ValueError(f"assess each of {sorted(labels)} exactly once, got {assessed}")
            if sorted(self.ranking) != sorted(labels):
                raise ValueError(f"ranking must list each of {sorted(labels)} exactly once, got {self.ranking}")
            return self

    return CouncilRanking


async def rank(
    gateway: LLMGateway,
    prompts: PromptRenderer,
    ref: ModelRef,
    query: str,
    shown: dict[str, str],
    site: CallSite,
) -> Answer[Any]:
    """`shown` maps label -> answer text; returns the validated ranking model."""
    labels = list(shown)
    schema = ranking_schema(labels)
    prompt = prompts.render(ROLE, query=query, answers=shown)
    return await gateway.ask(
        ref, as_messages(prompt), site, output=schema, rules=lambda rng: offline_ranking(schema, shown, rng)
    )


def offline_ranking(schema: type[BaseModel], shown: dict[str, str], rng: random.Random) -> BaseModel:
    """Prefer answers that give more numbered points, then a seeded tie-break."""
    score = {label: (text.count("\n"), rng.random()) for label, text in shown.items()}
    order = sorted(shown, key=lambda label: score[label], reverse=True)
    assessments = [
        {
            "label": label,
            "critique": f"[offline rules] {shown[label].count(chr(10))} supporting lines; ranked by structure.",
        }
        for label in shown
    ]
    return schema.model_validate({"assessments": assessments, "ranking": order})
