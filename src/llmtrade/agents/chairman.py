"""Chairman: reads the anonymised pitches, the review matrix and the scores; decides the council's trade."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date

from llmtrade.agents.prompting import as_messages
from llmtrade.config.models import Chairman, Instrument
from llmtrade.domain.committee import (
    AggregateScore,
    DecisionAnswer,
    DecisionReply,
    PitchAnswer,
    Review,
    decision_reply_schema,
)
from llmtrade.domain.research import ResearchPack
from llmtrade.llm.gateway import CallSite, LLMGateway
from llmtrade.prompts.renderer import PromptRenderer

ROLE = "chairman_decision"


async def decide(
    gateway: LLMGateway,
    prompts: PromptRenderer,
    chairman: Chairman,
    pitches: dict[str, PitchAnswer],
    reviews: dict[str, list[Review]],
    scores: list[tuple[str, AggregateScore]],
    packs: list[ResearchPack],
    universe: list[Instrument],
    week_id: date,
    site: CallSite,
    flags: Sequence[tuple[str, str]] = (),
) -> DecisionAnswer:
    """`pitches` and `reviews` are keyed by neutral labels; `scores` lists (label, score), best first; `flags`
    the validator's notes as (label, note), shown in the prompt (none: no such section)."""
    schema = decision_reply_schema([i.symbol for i in universe])
    prompt = prompts.render(
        ROLE,
        pitches=pitches,
        reviews=reviews,
        scores=scores,
        week_id=week_id,
        snapshot=packs[0].snapshot,
        flags=tuple(flags),
        universe=universe,
    )
    answer = await gateway.ask(
        chairman,
        as_messages(prompt),
        site,
        output=schema,
        rules=lambda rng: offline_decision(schema, pitches, reviews, scores, rng),
    )
    return answer.value.to_answer()


def offline_decision(
    schema: type[DecisionReply],
    pitches: dict[str, PitchAnswer],
    reviews: dict[str, list[Review]],
    scores: list[tuple[str, AggregateScore]],
    rng: random.Random,
) -> DecisionReply:
    """Back the best-scored pitch that takes a position; flat when none does."""
    ranked = [label for label, _ in scores if pitches[label].direction != "FLAT"]
    if not ranked:
        label = scores[0][0]
        chosen = pitches[label]
        return schema.model_validate(
            {
                "selected_trade": {"instrument": chosen.instrument, "horizon": "1w"},
                "conviction": 0,
                "rationale": "[offline rules] No pitch takes a position; the council stays flat.",
                "dissent_summary": [],
                "monitoring_plan": {"checkpoints": [], "key_indicators": [], "watch_conditions": []},
                "invalidation": chosen.invalidation.model_dump(),
            }
        )
    label = ranked[0]
    chosen = pitches[label]
    mean = dict(scores)[label].mean_score
    sign = 1 if chosen.conviction > 0 else -1
    conviction = chosen.conviction if mean >= 6.5 else sign
    dissent = list(dict.fromkeys(r.best_argument_against for r in reviews.get(label, [])))[:3]
    return schema.model_validate(
        {
            "selected_trade": {"instrument": chosen.instrument, "horizon": "1w"},
            "conviction": conviction,
            "rationale": (
                f"[offline rules] {label} scored best among the pitches that take a position "
                f"(mean {mean:.2f} of 10); conviction {'kept' if conviction == chosen.conviction else 'cut to 1'}."
            ),
            "dissent_summary": dissent,
            "monitoring_plan": {
                "checkpoints": ["09:00", "12:00", "14:00", "15:50"],
                "key_indicators": [i.model_dump() for i in chosen.indicators],
                "watch_conditions": [chosen.invalidation.text],
            },
            "invalidation": chosen.invalidation.model_dump(),
        }
    )
