"""Council chairman: reads the anonymised answers and the aggregate ranking, writes the final answer."""

from __future__ import annotations

import random

from llmtrade.agents.prompting import as_messages
from llmtrade.config.models import ModelRef
from llmtrade.llm.gateway import Answer, CallSite, LLMGateway
from llmtrade.prompts.renderer import PromptRenderer

ROLE = "council_chairman"


async def conclude(
    gateway: LLMGateway,
    prompts: PromptRenderer,
    ref: ModelRef,
    query: str,
    answers: dict[str, str],
    standings: list[tuple[str, float]],
    site: CallSite,
) -> Answer[str]:
    """`answers` maps neutral labels to texts; `standings` lists (label, mean rank), best first."""
    prompt = prompts.render(ROLE, query=query, answers=answers, standings=standings)
    return await gateway.ask_text(
        ref, as_messages(prompt), site, rules=lambda rng: offline_conclusion(query, answers, standings, rng)
    )


def offline_conclusion(
    query: str, answers: dict[str, str], standings: list[tuple[str, float]], rng: random.Random
) -> str:
    best, best_rank = standings[0]
    others = ", ".join(f"{label} ({mean:.2f})" for label, mean in standings[1:]) or "none"
    return (
        f"[offline rules synthesis] The council ranked {best} first (mean rank {best_rank:.2f}); "
        f"the others placed {others}. Its answer to \u201c{query.strip()}\u201d, adopted as the council's:\n\n"
        f"{answers[best]}"
    )
