"""The memory as a prompt shows it: one line per recollection, cut to the role's token budget.

A prompt's "Similar past setups" section is a tuple of lines, each citing its memory id; the empty tuple
means the section is absent (memory off, or nothing visible yet), and the templates then render exactly
what they rendered before the memory existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from llmtrade.domain.memory import Recollection
from llmtrade.memo import IdentityMemo

# A token is about four characters of English; the budget is a cut, not a tokenizer's count.
CHARS_PER_TOKEN = 4


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2%}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def describe(hit: Recollection) -> str:
    """One recollection as one line: its id, what it was and, for a setup, how it ended and what was learnt.

    Setup: `[setup:2026-01-05:pitch:pm_a] week 2026-01-05 LONG SPY conviction 2: <thesis>. Outcome: account
    -1.20% (SPY -0.80%), thesis wrong; broke: rsi_14 < 70. Lessons: ...`; a condition: the week and its
    distance; a symbol note: its week and text."""
    if hit.setup is not None:
        setup, outcome = hit.setup, hit.outcome
        line = (
            f"[{hit.memory_id}] week {hit.week_id} {setup.direction} {setup.instrument} conviction "
            f"{setup.conviction:+d}: {_one_line(setup.thesis)}"
        )
        if outcome is not None:
            verdict = {True: "thesis right", False: "thesis wrong", None: "thesis not judged"}[outcome.thesis_right]
            line += (
                f". Outcome: account {_pct(outcome.week_return)} ({setup.instrument} "
                f"{_pct(outcome.instrument_return)}), {verdict}"
            )
            if outcome.broken:
                line += f"; broke: {', '.join(outcome.broken)}"
        if hit.lessons:
            line += ". Lessons: " + " | ".join(_one_line(lesson) for lesson in hit.lessons)
        return line
    if hit.condition is not None:
        return f"[{hit.memory_id}] week {hit.week_id}: market condition close to this week's (distance {hit.score:.2f})"
    if hit.note is not None:
        return f"[{hit.memory_id}] week {hit.week_id} {hit.note.instrument}: {_one_line(hit.note.text)}"
    return f"[{hit.memory_id}] week {hit.week_id}"


# A hit -> its line: a backtest's recall answers the same frozen recollections checkpoint after checkpoint
# (app/backtest_memory.py).
_LINES: IdentityMemo[Recollection, str] = IdentityMemo(4096)


def _described(hit: Recollection) -> str:
    """`describe(hit)`, made once per recollection object (frozen: the same object gives the same line)."""
    return _LINES.of(hit, describe)


def within_budget(hits: Iterable[Recollection], token_budget: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(lines, memory ids) of the whole items that fit `token_budget` (~4 characters a token), in the order
    given (most similar first); the first item that does not fit ends the list, so a less similar item never
    takes the place of a more similar one. Duplicate ids are shown once."""
    room = token_budget * CHARS_PER_TOKEN
    lines: list[str] = []
    ids: list[str] = []
    for hit in hits:
        if hit.memory_id in ids:
            continue
        line = _described(hit)
        if len(line) + 1 > room:
            break
        room -= len(line) + 1
        lines.append(line)
        ids.append(hit.memory_id)
    return tuple(lines), tuple(ids)


def interleave(groups: Sequence[Sequence[Recollection]]) -> list[Recollection]:
    """Several ranked lists as one: every list's first hit, then every list's second, ...; duplicates once."""
    merged: list[Recollection] = []
    seen: set[str] = set()
    for rank in range(max((len(g) for g in groups), default=0)):
        for group in groups:
            if rank < len(group) and group[rank].memory_id not in seen:
                seen.add(group[rank].memory_id)
                merged.append(group[rank])
    return merged
