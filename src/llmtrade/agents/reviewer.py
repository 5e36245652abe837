"""Peer reviewer: scores one anonymised pitch of another PM and argues against it."""

from __future__ import annotations

import random

from llmtrade.agents.prompting import as_messages
from llmtrade.config.models import PortfolioManager
from llmtrade.domain.committee import PitchAnswer, ReviewAnswer, ReviewScores
from llmtrade.domain.research import ResearchPack
from llmtrade.llm.gateway import CallSite, LLMGateway
from llmtrade.prompts.renderer import PromptRenderer

ROLE = "peer_review"


async def review(
    gateway: LLMGateway,
    prompts: PromptRenderer,
    reviewer: PortfolioManager,
    label: str,
    pitch: PitchAnswer,
    packs: list[ResearchPack],
    site: CallSite,
) -> ReviewAnswer:
    """`pitch` is shown as an anonymous PitchAnswer under `label`: no model, PM or account."""
    prompt = prompts.render(ROLE, label=label, pitch=pitch, snapshot=packs[0].snapshot)
    answer = await gateway.ask(
        reviewer, as_messages(prompt), site, output=ReviewAnswer, rules=lambda rng: offline_review(pitch, packs, rng)
    )
    return answer.value


def offline_review(pitch: PitchAnswer, packs: list[ResearchPack], rng: random.Random) -> ReviewAnswer:
    """Scores that reward a defined risk and a trade with the trend, with a little seeded noise."""
    ind = packs[0].snapshot.indicators.get(pitch.instrument)
    with_trend = bool(ind and ind.return_4w is not None and (ind.return_4w > 0) == (pitch.conviction > 0))
    base = 6 if pitch.direction != "FLAT" else 4

    def score(bonus: int) -> int:
        return max(1, min(10, base + bonus + rng.choice([-1, 0, 0, 1])))

    return ReviewAnswer(
        scores=ReviewScores(
            clarity=score(len(pitch.thesis_bullets) - 1),
            edge_plausibility=score(2 if with_trend else -1),
            timing_catalyst=score(0),
            risk_definition=score(1),
            indicator_integrity=score(len(pitch.indicators) - 1),
            originality=score(-1),
            tradeability=score(1 if pitch.direction != "FLAT" else -2),
        ),
        best_argument_against=(
            f"[offline rules] {pitch.instrument} {pitch.direction}: a one-week horizon is mostly noise; "
            + ("the trend may already be priced." if with_trend else "it fights the four-week trend.")
        ),
        one_flip_condition=f"{pitch.invalidation.rule.describe()}",
        suggested_fix="Size down until the first checkpoint confirms the move.",
    )
