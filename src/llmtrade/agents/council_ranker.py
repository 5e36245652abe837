"""Council ranker: assesses and scores the other members' answers, shown under private labels.

The schema is built per reviewer from the labels it is shown: `assessments` has one required
property per label (and no others), so every answer is assessed exactly once by construction. The
order is not a separate list that could disagree with the assessments: it follows from the
scores, ties broken by label (letters are shuffled per reviewer, so that favours no one model).
"""

from __future__ import annotations

import random
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from llmtrade.agents.prompting import as_messages
from llmtrade.config.models import ModelRef
from llmtrade.domain.committee import Score
from llmtrade.llm.gateway import Answer, CallSite, LLMGateway
from llmtrade.prompts.renderer import PromptRenderer

ROLE = "council_ranking"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Assessment(_Strict):
    critique: str = Field(min_length=1, max_length=3000)
    score: Score = Field(description="1 (worst) to 10 (best)")


class RankingReply(_Strict):
    """A reviewer's assessments, one per label shown; subclassed per call by `ranking_schema`."""

    assessments: Any

    def by_label(self) -> dict[str, Assessment]:
        return {label: getattr(self.assessments, label) for label in type(self.assessments).model_fields}

    def order(self) -> list[str]:
        """Labels, best first: higher score first, then by label."""
        rows = self.by_label()
        return sorted(rows, key=lambda label: (-rows[label].score, label))


def ranking_schema(labels: list[str]) -> type[RankingReply]:
    """The answer model for a reviewer shown `labels` (identifiers such as "A", "B")."""
    return _ranking_schema(tuple(labels))


@cache
def _ranking_schema(labels: tuple[str, ...]) -> type[RankingReply]:
    # Cached per label set: one class per answer shape, so strict_schema's per-class cache serves every call.
    fields: dict[str, Any] = {label: (Assessment, ...) for label in labels}
    per_label = create_model("Assessments", __base__=_Strict, **fields)
    return create_model("CouncilRanking", __base__=RankingReply, assessments=(per_label, ...))


async def rank(
    gateway: LLMGateway,
    prompts: PromptRenderer,
    ref: ModelRef,
    query: str,
    shown: dict[str, str],
    site: CallSite,
) -> Answer[RankingReply]:
    """`shown` maps label -> answer text; returns the validated ranking model."""
    labels = list(shown)
    schema = ranking_schema(labels)
    prompt = prompts.render(ROLE, query=query, answers=shown)
    return await gateway.ask(
        ref, as_messages(prompt), site, output=schema, rules=lambda rng: offline_ranking(schema, shown, rng)
    )


def offline_ranking(schema: type[RankingReply], shown: dict[str, str], rng: random.Random) -> RankingReply:
    """Prefer answers that give more numbered points, then a seeded tie-break: scores 10, 9, 8, ..."""
    key = {label: (text.count("\n"), rng.random()) for label, text in shown.items()}
    order = sorted(shown, key=lambda label: key[label], reverse=True)
    assessments = {
        label: {
            "critique": f"[offline rules] {shown[label].count(chr(10))} supporting lines; ranked by structure.",
            "score": max(1, 10 - place),
        }
        for place, label in enumerate(order)
    }
    return schema.model_validate({"assessments": assessments})
