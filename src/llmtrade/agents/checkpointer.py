"""Checkpointer: the account's owner (its PM, or the chairman) updates its conviction mid-week.

It sees only the frozen thesis, the indicators against their frozen thresholds, and its P/L.
Offline, the rules cut conviction by one step for every watched indicator that broke its
threshold, exit on a loss beyond 3%, and otherwise stay.
"""

from __future__ import annotations

import random

from pydantic import model_validator

from llmtrade.agents.prompting import as_messages
from llmtrade.config.models import ModelRef
from llmtrade.domain.checkpoints import CheckpointAnswer
from llmtrade.domain.committee import WatchedIndicator
from llmtrade.llm.gateway import CallSite, LLMGateway
from llmtrade.prompts.renderer import PromptRenderer

ROLE = "checkpoint"
STOP_LOSS = -0.03


async def check(
    gateway: LLMGateway,
    prompts: PromptRenderer,
    owner: ModelRef,
    *,
    instrument: str,
    direction: str,
    conviction: int,
    thesis: list[str],
    watched: list[WatchedIndicator],
    values: dict[str, float | None],
    pnl_pct: float,
    time: str,
    site: CallSite,
) -> CheckpointAnswer:
    prompt = prompts.render(
        ROLE,
        instrument=instrument,
        direction=direction,
        conviction=conviction,
        thesis=thesis,
        watched=watched,
        values=values,
        pnl_pct=pnl_pct,
        time=time,
    )
    schema = answer_schema(conviction)
    answer = await gateway.ask(
        owner,
        as_messages(prompt),
        site,
        output=schema,
        rules=lambda rng: schema.model_validate(offline_check(conviction, watched, values, pnl_pct, rng).model_dump()),
    )
    return answer.value


def answer_schema(before: int) -> type[CheckpointAnswer]:
    """CheckpointAnswer that must agree with the position held (conviction `before`, never 0 here)."""
    side = 1 if before > 0 else -1

    class CheckpointDecision(CheckpointAnswer):
        @model_validator(mode="after")
        def _agrees_with_the_position(self) -> CheckpointDecision:
            after = self.conviction_after * side
            if self.action == "EXIT" and self.conviction_after != 0:
                raise ValueError("EXIT closes the position: conviction_after must be 0")
            if self.action == "FLIP" and after >= 0:
                raise ValueError(
                    f"FLIP reverses the position: conviction_after must have the opposite sign of {before}"
                )
            if self.action in ("STAY", "REDUCE") and after <= 0:
                raise ValueError(f"{self.action} keeps the side: conviction_after must have the sign of {before}")
            return self

    return CheckpointDecision


def offline_check(
    conviction: int,
    watched: list[WatchedIndicator],
    values: dict[str, float | None],
    pnl_pct: float,
    rng: random.Random,
) -> CheckpointAnswer:
    if pnl_pct <= STOP_LOSS:
        return CheckpointAnswer(
            action="EXIT", conviction_after=0, reason_delta=f"[offline rules] loss {pnl_pct:.1%} beyond the 3% stop"
        )
    broken = [
        w.threshold.describe()
        for w in watched
        if values.get(w.threshold.indicator) is not None and not w.threshold.holds(values[w.threshold.indicator])
    ]
    if broken and abs(conviction) > 1:
        step = 1 if conviction > 0 else -1
        return CheckpointAnswer(
            action="REDUCE",
            conviction_after=conviction - step,
            reason_delta="[offline rules] no longer true: " + "; ".join(broken),
        )
    if broken:
        return CheckpointAnswer(
            action="EXIT", conviction_after=0, reason_delta="[offline rules] thesis broken: " + "; ".join(broken)
        )
    return CheckpointAnswer(
        action="STAY", conviction_after=conviction, reason_delta="[offline rules] every watched indicator holds"
    )
