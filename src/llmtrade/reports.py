"""What commands print when they finish: human reports on a terminal, JSON for machines."""

from __future__ import annotations

from typing import Any

from llmtrade.console import Output
from llmtrade.llm.gateway import LLMMode, UsageTotals
from llmtrade.llm.providers import ModeDecision


def mode_banner(decision: ModeDecision) -> str:
    if decision.mode is LLMMode.OFFLINE:
        return f"OFFLINE MODE: rules provider, not model output ({decision.reason})"
    if decision.mode is LLMMode.REPLAY:
        return f"REPLAY MODE: {decision.reason}"
    return f"LIVE MODE: {decision.reason}"


def usage_rows(totals: UsageTotals) -> list[tuple[str, Any]]:
    cost = f"${totals.cost_usd:.4f}"
    if totals.unpriced_calls:
        cost += f" (+{totals.unpriced_calls} calls with no known price)"
    return [
        ("model calls", totals.calls),
        ("tokens", f"{totals.prompt_tokens} in / {totals.completion_tokens} out"),
        ("cost", cost),
    ]


def usage_json(totals: UsageTotals) -> dict[str, Any]:
    return {
        "calls": totals.calls,
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "cost_usd": round(totals.cost_usd, 6),
        "unpriced_calls": totals.unpriced_calls,
    }


def print_council(out: Output, result: dict[str, Any], totals: UsageTotals) -> None:
    out.heading("answers")
    for answer in result["answers"]:
        out.line(f"[{answer['model']}]", style="bold cyan")
        out.line(answer["text"])
        out.line()
    for failure in result["failures"]:
        out.line(f"[{failure['model']}] failed in {failure['stage']}: {failure['error']}", style="bold red")
    out.table(
        "peer ranking (mean rank, 1 = best)",
        ["model", "mean rank", "votes"],
        [(row["model"], f"{row['mean_rank']:.2f}", row["votes"]) for row in result["standings"]],
    )
    out.heading(f"chairman ({result['chairman']})")
    out.line(result["verdict"])
    out.line()
    out.pairs([*usage_rows(totals), ("duration", f"{result['duration_ms'] / 1000:.1f} s"), ("run", result["run_id"])])
