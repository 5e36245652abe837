"""Formatting shared by the renderers."""

from __future__ import annotations

from llmtrade.app.results import Usage
from llmtrade.console import Output


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def counted(n: int, noun: str) -> str:
    """`n` and `noun`, plural but for one: "1 week", "0 weeks", "52 weeks"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def calls_text(calls: int, rules: int) -> str:
    """Model calls (live or replayed), and apart the offline rules' answers, which no model gave."""
    return f"{calls}" if not rules else f"{calls} (and {rules} offline rules answers: no model, $0)"


def footer(out: Output, usage: Usage, *, duration_ms: float, run_id: str) -> None:
    """What a run cost and how long it took, under every report of a run that called models."""
    cost = f"${usage.cost_usd:.4f}"
    if usage.unpriced_calls:
        cost += f" (+{usage.unpriced_calls} calls with no known price)"
    out.pairs(
        [
            ("model calls", calls_text(usage.calls, usage.rules_answers)),
            ("tokens", f"{usage.prompt_tokens} in / {usage.completion_tokens} out"),
            ("cost", cost),
            ("duration", f"{duration_ms / 1000:.1f} s"),
            ("run", run_id),
        ]
    )
