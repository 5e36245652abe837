"""The committee's memory: what it remembers of past weeks, and what a role was shown of it.

Four kinds of memory, each written once as an event and projected into pgvector tables by `memory/`
(the tables can be rebuilt from these events at any time, `llmtrade memory rebuild`):

- a *setup*: one pitch or one chairman decision (instrument, direction, conviction, thesis, indicators),
  with its week's market condition; its *outcome* is a separate event, written when the postmortem closes
  the week, stamped with the time it became known;
- a *market condition*: a week's standardised numeric vector, built from its snapshot (no model needed);
- a *lesson*: one of the postmortem's reflections, as text;
- a *symbol note*: what a research pack said about one instrument.

Point-in-time: a memory is visible to a run whose as-of time is T only if it was known before T
(`known_at < T`); a setup is recalled only once its outcome is known (`Outcome.known_at < T`), since a setup
without its ending teaches nothing and its ending is what must not leak.

Memory ids are deterministic (built from the week, the kind and the author), so a rerun or a replayed
backtest writes and recalls the same ids, and retrieval order is stable (ties broken by id).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import AwareDatetime, Field

from llmtrade.domain.events import EventPayload
from llmtrade.domain.records import Direction, Record

MemoryKind = Literal["setup", "condition", "lesson", "symbol"]


class MarketCondition(Record):
    """A week's market condition as numbers: `values[i]` is the raw value of feature `names[i]` (returns over
    several horizons, volatility, drawdown, correlation, rates and dollar proxies; see memory/conditions.py for
    the list, units and which instrument each comes from). Standardising (z-scores against the history visible
    at the time) is done when it is compared, never stored, so no later week leaks into an earlier one."""

    memory_id: str  # "condition:{week_id}"
    week_id: date
    known_at: AwareDatetime  # the snapshot's as-of time
    session: date  # the last complete session the values are computed at
    names: tuple[str, ...]
    values: tuple[float | None, ...]  # None where the history was too short


class Setup(Record):
    """One pitch (`source` "pitch", author the PM's id) or the chairman's decision (`source` "decision",
    author "chairman") of a week, as it stood when it was made."""

    memory_id: str  # "setup:{week_id}:{source}:{author}"
    week_id: date
    known_at: AwareDatetime  # when the pitch or decision was made
    source: Literal["pitch", "decision"]
    author: str
    account_id: str  # the account that traded it
    instrument: str
    direction: Direction
    conviction: int = Field(ge=-2, le=2)
    thesis: str  # the thesis bullets (or the chairman's rationale), one per line
    indicators: tuple[str, ...]  # every frozen threshold, as Threshold.describe() ("rsi_14 < 70")
    invalidation: str | None = None  # the invalidation rule, described the same way


class Outcome(Record):
    """How a setup ended, known when the postmortem closed its week."""

    setup_id: str  # the Setup's memory_id
    week_id: date
    known_at: AwareDatetime  # the postmortem's time: before it, the outcome is unknown
    account_id: str
    week_return: float | None  # the account's return over the week, a fraction (0.01 = 1%); None: began at no equity
    week_pnl: float  # USD
    instrument_return: float | None  # the instrument's own return over the week, a fraction
    thesis_right: bool | None  # None when the week says nothing either way (FLAT, no data)
    broken: tuple[str, ...]  # the thresholds that did not hold (or the invalidation rule that fired)


class Lesson(Record):
    memory_id: str  # "lesson:{week_id}:{account_id}:{n}"
    week_id: date
    known_at: AwareDatetime
    account_id: str
    instrument: str | None
    text: str


class SymbolNote(Record):
    memory_id: str  # "symbol:{week_id}:{instrument}:{pack label}"
    week_id: date
    known_at: AwareDatetime  # the research pack's as-of time
    instrument: str
    text: str  # the pack's one-week thesis, primary risks and invalidation rule for the instrument


class Recollection(Record):
    """One memory as a role is shown it: the hit of a retrieval, with its rank (1 = most similar) and the
    distance or score it was ranked by. Exactly one of the record fields is set, by `kind`; a setup comes
    with its outcome and the lessons written about its account that week."""

    memory_id: str
    kind: MemoryKind
    week_id: date
    rank: int = Field(ge=1)
    score: float  # the fused rank score or the vector distance the hit was ranked by (smaller = closer)
    setup: Setup | None = None
    outcome: Outcome | None = None
    lessons: tuple[str, ...] = ()
    condition: MarketCondition | None = None
    note: SymbolNote | None = None


class SetupFlag(Record):
    """The validator's warning on one pitch: it resembles past setups that lost."""

    idea_id: str  # the pitch flagged
    pm_id: str
    instrument: str
    direction: Direction
    similar: tuple[str, ...]  # memory ids of the past setups it resembles, most similar first
    losers: int  # how many of them lost money
    mean_return: float  # their mean week return, a fraction
    note: str  # one line, with the numbers, as the chairman reads it


# ---------------------------------------------------------------- events


class ConditionRemembered(EventPayload):
    condition: MarketCondition


class SetupRemembered(EventPayload):
    setup: Setup


class OutcomeRemembered(EventPayload):
    outcome: Outcome


class LessonRemembered(EventPayload):
    lesson: Lesson


class SymbolNoteRemembered(EventPayload):
    note: SymbolNote


class MemoryRecalled(EventPayload):
    """What one role was shown of the memory in one run: "which memories did this decision see?"."""

    role: str  # "pm:{pm_id}", "checkpoint:{account_id}", "validator", "chairman"
    week_id: date
    as_of: datetime  # the visibility cut: only memories known before it
    query: str  # what was searched for, in words
    memory_ids: list[str]  # in the order shown


class SetupFlagged(EventPayload):
    flag: SetupFlag
