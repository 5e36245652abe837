"""Formatting shared by the renderers."""

from __future__ import annotations

from llmtrade.app.results import Usage
from llmtrade.console import Output
from llmtrade.domain.wording import counted, fall, signed_percent

__all__ = ["counted"]  # the renderers' shared words, with the formats below


def pct(value: float | None, digits: int = 1) -> str:
    """A change (a return): signed, and zero without a sign, as the HTML report prints it (`signed_percent`)."""
    return "n/a" if value is None else signed_percent(value, digits)


def share(value: float | None) -> str:
    """A fraction that is a level, not a change (a rate, a volatility, an exposure): no sign."""
    return "n/a" if value is None else f"{value:.1%}"


def drawdown(value: float | None) -> str:
    """A drawdown, stored as a positive fraction of the peak, shown as the fall it is: -12.3% (0.0% for none; a fall
    under 0.05% with the decimals that show it, `fall`)."""
    return "n/a" if value is None else fall(value, 1)


def pnl(value: float | None) -> str:
    """A profit or loss in USD: a change, so signed (+83.73, -89.65), as the report's P/L is."""
    return "n/a" if value is None else f"{round(value, 2) + 0.0:+,.2f}"


def num(value: float | None, digits: int = 2) -> str:
    """`value` to `digits` decimals; one that rounds to zero without a sign ("0.00", never "-0.00": a trial's Calmar of
    -0.00 beside the report's 0.00)."""
    if value is None:
        return "n/a"
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def calls_text(calls: int, rules: int, cost_usd: float | None = None) -> str:
    """Model calls (live or replayed), with their cost when given, and apart the offline rules' answers, which no
    model gave: the cost follows the calls it is of (status said `(and 19 ...: no model, $0) ($0.0000)`, a trial
    read it as two costs)."""
    said = f"{calls}" if cost_usd is None else f"{calls} (${cost_usd:.4f})"
    if not rules:
        return said
    if cost_usd is None:
        return f"{said} (and {rules} offline rules answers: no model, $0)"
    return f"{said}, and {rules} offline rules answers (no model, no cost)"


def footer(out: Output, usage: Usage, *, duration_ms: float, run_id: str) -> None:
    """What a run cost and how long it took, under every report of a run that called models."""
    cost = f"${usage.cost_usd:.4f}"
    if usage.unpriced_calls:
        cost += f" (cost unknown for {counted(usage.unpriced_calls, 'call')})"
    out.pairs(
        [
            ("model calls", calls_text(usage.calls, usage.rules_answers)),
            ("tokens", f"{usage.prompt_tokens} in / {usage.completion_tokens} out"),
            ("cost", cost),
            ("duration", f"{duration_ms / 1000:.1f} s"),
            ("run", run_id),
        ]
    )


def prices_from(source: str, *, synthetic: bool) -> str:
    """Where a run's prices came from, SYNTHETIC said once: "csv", "SYNTHETIC (the seeded synthetic market), cached",
    "csv + SYNTHETIC (the seeded synthetic market)" (a mix, LLMTRADE_MARKET_PROVIDERS=csv,synthetic); not "offline":
    live models may answer on it (keys set, no market data source). `source`: the providers as the series names
    them, comma-joined, " (cache)" after when read from the bar cache. The weekly header said "prices: SYNTHETIC
    synthetic": the flag, then the provider's name, which is the same word."""
    names, cached = source.removesuffix(" (cache)"), source.endswith(" (cache)")
    parts = [_SYNTHETIC if name == "synthetic" else name for name in names.split(",")]
    if synthetic and _SYNTHETIC not in parts:  # a provider of another name flagged it (none does today)
        parts = [f"SYNTHETIC {' + '.join(parts)}"]
    return " + ".join(parts) + (", cached" if cached else "")


_SYNTHETIC = "SYNTHETIC (the seeded synthetic market)"
