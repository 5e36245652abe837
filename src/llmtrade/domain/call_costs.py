"""What a model call record (LLMCallCompleted or LLMCallFailed payload) counts for: whether the budget counted it,
at how much, and whether its cost is known. Status, trace, the report and the budget read them alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llmtrade.domain.events import rules_answer


def cost_unknown(payload: Mapping[str, Any]) -> bool:
    """Whether a call record (LLMCallCompleted or LLMCallFailed) is of a reply whose cost is not known: no cost, yet
    something came back (an answer, tokens, or a reply without usage the budget counted at its worst case). A failed
    call that got no reply at all cost nothing."""
    if payload.get("cut_off_attempts"):  # generated and billed, cost never reported
        return True
    if payload.get("billed") and payload.get("cost_usd") is None:  # a reply without usage, no budget set to count it
        return True
    if payload.get("cost_usd") is not None:
        return False
    answered = "outcome" in payload  # LLMCallCompleted
    return (
        answered
        or bool(payload.get("prompt_tokens") or payload.get("completion_tokens"))
        or (payload.get("cost_counted_usd") is not None)
    )


def budget_counted(payload: Mapping[str, Any]) -> bool:
    """Whether a call record (LLMCallCompleted or LLMCallFailed) is one the budget counts: a model's answer (not the
    offline rules'), or a failed call that was billed: a reply came back (tokens, a cost) or an unknown cost was
    counted at its worst case (a reply without usage, an attempt cut off after its 200). Status, trace and the
    report count these alike."""
    if "outcome" in payload:  # LLMCallCompleted
        return not rules_answer(payload)
    return bool(
        payload.get("prompt_tokens")
        or payload.get("completion_tokens")
        or payload.get("cost_usd")
        or payload.get("cost_counted_usd") is not None
        or payload.get("cut_off_attempts")
        or payload.get("billed")
    )


def spent_usd(payload: Mapping[str, Any]) -> float:
    """USD a call record counts for, as the budget counted it: its cost, else the worst case counted for an unknown
    one (cost_counted_usd), else 0 (an unknown cost with no budget to hold a worst case: said as unknown)."""
    cost = payload.get("cost_usd")
    if cost is None:
        cost = payload.get("cost_counted_usd")
    return float(cost or 0.0)
