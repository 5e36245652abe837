"""Words shared by every text llmtrade prints: the terminal, the HTML report, notes and messages."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, plural but for one: "1 week", "0 weeks", "52 weeks"; `plural` for a noun not made so by an
    s ("1 daily return", "2 daily returns" need none)."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"


def signed_percent(value: float, digits: int) -> str:
    """A change (a return, an excess) as a percentage to `digits` decimals, with its sign: "+1.2%", "-0.4%". One
    that rounds to zero has none ("0.0%", never "-0.0%" nor "+0.0%"): a sign on a zero says nothing, and shown at
    two precisions it could contradict (the terminal's "+0.0%" beside the page's "-0.04%" for the same -0.0004).
    The terminal (1 decimal), the HTML report and the sweep's page (2) all print returns through this."""
    text = f"{value:+.{digits}%}"
    return text[1:] if float(text[1:-1]) == 0 else text
