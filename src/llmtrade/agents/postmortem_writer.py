"""Postmortem writer: the account's owner reflects on its week, given what actually happened."""

from __future__ import annotations

import random

from llmtrade.agents.prompting import as_messages
from llmtrade.config.models import ModelRef
from llmtrade.domain.checkpoints import IndicatorOutcome, PostmortemAnswer
from llmtrade.domain.wording import signed_percent
from llmtrade.llm.gateway import CallSite, LLMGateway
from llmtrade.prompts.renderer import PromptRenderer

ROLE = "postmortem"


async def reflect(
    gateway: LLMGateway,
    prompts: PromptRenderer,
    owner: ModelRef,
    *,
    instrument: str,
    direction: str,
    thesis: list[str],
    week_return: float | None,
    instrument_return: float | None,
    indicators: list[IndicatorOutcome],
    site: CallSite,
) -> PostmortemAnswer:
    prompt = prompts.render(
        ROLE,
        instrument=instrument,
        direction=direction,
        thesis=thesis,
        week_return=week_return,
        instrument_return=instrument_return,
        indicators=indicators,
    )
    answer = await gateway.ask(
        owner,
        as_messages(prompt),
        site,
        output=PostmortemAnswer,
        rules=lambda rng: offline_reflection(direction, week_return, instrument_return, indicators, rng),
    )
    return answer.value


def offline_reflection(
    direction: str,
    week_return: float | None,
    instrument_return: float | None,
    indicators: list[IndicatorOutcome],
    rng: random.Random,
) -> PostmortemAnswer:
    move = "n/a" if instrument_return is None else signed_percent(instrument_return, 2)
    held = [_label(i) for i in indicators if i.held]
    broke = [_label(i) for i in indicators if i.held is False]
    made = "no return (its week began at no equity)" if week_return is None else signed_percent(week_return, 2)
    right = f"[offline rules] the account made {made}; the instrument moved {move}."
    if held:
        right += " Still true: " + "; ".join(held) + "."
    wrong = "Broken: " + "; ".join(broke) + "." if broke else "No watched threshold broke."
    if week_return is None:
        lesson = "Nothing to size until the account holds equity."
    else:
        lesson = "Keep sizing with conviction." if week_return >= 0 else "Cut faster when the first threshold breaks."
    return PostmortemAnswer(
        what_the_thesis_got_right=right,
        what_it_got_wrong=f"[offline rules] {direction}: {wrong}",
        lessons=[lesson],
    )


def _label(outcome: IndicatorOutcome) -> str:
    """A watched threshold as written; the invalidation rule by what its outcome means."""
    if outcome.role == "invalidation":
        return f"exit rule {outcome.threshold} {'did not fire' if outcome.held else 'fired'}"
    return outcome.threshold
