"""Words shared by every text llmtrade prints: the terminal, the HTML report, notes and messages."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` and `noun`, plural but for one: "1 week", "0 weeks", "52 weeks"; `plural` for a noun not made so by an
    s ("1 daily return", "2 daily returns" need none)."""
    return f"{n} {noun}" if n == 1 else f"{n} {plural or noun + 's'}"
