"""Council member: answers the user's query in its own words (stage 1 of the general council)."""

from __future__ import annotations

import random

from llmtrade.agents.prompting import as_messages
from llmtrade.config.models import ModelRef
from llmtrade.llm.gateway import Answer, CallSite, LLMGateway
from llmtrade.prompts.renderer import PromptRenderer

ROLE = "council_answer"

_STANCES = (
    "the evidence points one way, but the base rate argues for caution",
    "the answer depends mostly on the time horizon",
    "the consensus view is probably right, for reasons it rarely states",
    "the question hides a trade-off that should be made explicit",
)


async def answer(
    gateway: LLMGateway, prompts: PromptRenderer, ref: ModelRef, query: str, site: CallSite
) -> Answer[str]:
    prompt = prompts.render(ROLE, query=query)
    return await gateway.ask_text(ref, as_messages(prompt), site, rules=lambda rng: offline_answer(query, rng))


def offline_answer(query: str, rng: random.Random) -> str:
    """A deterministic stand-in: structured like a real answer, honest that it is not one."""
    stance = rng.choice(_STANCES)
    points = rng.sample(
        [
            "state the assumptions before the conclusion",
            "separate what is known from what is guessed",
            "name what would change the answer",
            "prefer the simplest explanation that fits",
            "check the claim against a base rate",
        ],
        k=3,
    )
    lines = [f"[offline rules answer] On \u201c{query.strip()}\u201d: {stance}."]
    lines += [f"{i}. {point.capitalize()}." for i, point in enumerate(points, 1)]
    lines.append(f"Confidence: {rng.choice(['low', 'moderate', 'high'])}.")
    return "\n".join(lines)
