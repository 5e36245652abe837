"""Portfolio manager: pitches one trade for the week from the frozen research packs.

Offline, each PM takes a different candidate from the packs (by a stable preference of its own),
follows the candidate's bias, and sets conviction from the strength of the move: a plain
momentum PM that reads the same numbers a live PM would be shown.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from datetime import date

from llmtrade.agents.prompting import as_messages
from llmtrade.config.models import Instrument, PortfolioManager
from llmtrade.domain.committee import (
    Invalidation,
    PitchAnswer,
    PitchReply,
    Threshold,
    WatchedIndicator,
    pitch_reply_schema,
)
from llmtrade.domain.research import Candidate, ResearchPack
from llmtrade.llm.gateway import CallSite, LLMGateway
from llmtrade.prompts.renderer import PromptRenderer, RenderedPrompt

ROLE = "pm_pitch"


def pitch_prompt(
    prompts: PromptRenderer,
    packs: list[ResearchPack],
    universe: list[Instrument],
    week_id: date,
    memory: Sequence[str] = (),
) -> RenderedPrompt:
    """A PM's prompt: nothing in it names the PM, so PMs shown the same `memory` are asked the same prompt.
    `memory`: the "Similar past setups" lines (agents/memory_notes.py); empty, the prompt has no such section.
    The offline rules ignore it, but it is part of the prompt, so of the replay cache key."""
    return prompts.render(
        ROLE, packs=packs, universe=universe, week_id=week_id, snapshot=packs[0].snapshot, memory=tuple(memory)
    )


async def pitch(
    gateway: LLMGateway,
    prompt: RenderedPrompt,
    pm: PortfolioManager,
    packs: list[ResearchPack],
    universe: list[Instrument],
    site: CallSite,
) -> PitchAnswer:
    """`pm`'s pitch, asked with `prompt` (`pitch_prompt`)."""
    schema = pitch_reply_schema([i.symbol for i in universe])
    answer = await gateway.ask(
        pm, as_messages(prompt), site, output=schema, rules=lambda rng: offline_pitch(schema, pm.id, packs, rng)
    )
    return answer.value.to_answer()


def _preference(pm_id: str) -> int:
    return int(hashlib.sha256(pm_id.encode()).hexdigest()[:8], 16)


def offline_pitch(schema: type[PitchReply], pm_id: str, packs: list[ResearchPack], rng: random.Random) -> PitchReply:
    """A reply in the shape a model writes (the gateway validates it like one); FLAT is conviction 0."""
    candidates: list[Candidate] = []
    for pack in packs:
        for candidate in pack.tradable_candidates:
            if candidate.instrument not in {c.instrument for c in candidates}:
                candidates.append(candidate)
    choice = candidates[_preference(pm_id) % len(candidates)]
    ind = packs[0].snapshot.indicators[choice.instrument]
    direction = choice.directional_bias
    if direction == "FLAT":
        return schema.model_validate(
            {
                "instrument": choice.instrument,
                "horizon": "1w",
                "thesis_bullets": [f"[offline rules] {choice.instrument}: no clear trend; stay flat this week."],
                # Watched as what must stay true for the call to stand, as a trade's are (agents/checkpointer.py reads a
                # watched threshold that no longer holds as the thesis breaking): watching the breakout itself had the
                # postmortem say the thesis broke in every quiet week, beside an invalidation never hit (a trial).
                "indicators": [_watch("return_1w", "<", 0.02, "the range holds while the week's move stays under 2%")],
                "invalidation": {
                    "text": "A 2% weekly move would end the range.",
                    "rule": {"indicator": "return_1w", "op": ">", "value": 0.02},
                },
                "conviction": 0,
            }
        )
    sign = 1 if direction == "LONG" else -1
    strength = 0.0
    if ind.return_4w is not None and ind.realized_vol_20:
        strength = abs(ind.return_4w) / (ind.realized_vol_20 * math.sqrt(20 / 252))
    conviction = sign * (2 if strength >= 2.0 else 1)
    trend_op = ">" if sign > 0 else "<"
    stop_op = "<" if sign > 0 else ">"
    return schema.model_validate(
        {
            "instrument": choice.instrument,
            "horizon": "1w",
            "thesis_bullets": [
                f"[offline rules] {choice.one_week_thesis}",
                f"Momentum of {strength:.1f} sigma over four weeks.",
            ],
            "indicators": [
                _watch("price_vs_sma_20", trend_op, 0.0, "the trend holds while price stays on this side of SMA 20"),
                _watch("rsi_14", "<" if sign > 0 else ">", 75.0 if sign > 0 else 25.0, "not yet exhausted"),
            ],
            "invalidation": Invalidation(
                text=f"Close {'below' if sign > 0 else 'above'} the 20-day average by more than 2%, or a 5% loss.",
                rule=Threshold(indicator="price_vs_sma_20", op=stop_op, value=-0.02 * sign),
            ).model_dump(),
            "conviction": conviction,
        }
    )


def _watch(indicator: str, op: str, value: float, why: str) -> dict:
    return WatchedIndicator(
        name=indicator, threshold=Threshold(indicator=indicator, op=op, value=value), why=why
    ).model_dump()
