"""`discover performance`'s word on the LLM picker's knowledge cutoff (models.yaml `knowledge_cutoff` of research[0],
the model that picks): how many of the matured sessions it ranked were judged on or before it.

The leaderboard splits its weeks at the models' cutoff (app/cutoff_periods.py); the picker's rank IC, hit rate and
top-minus-median, and the ensemble's it is part of, counted a session whose outcome the model may have read in training
as skill, and nothing said so (issue 13: an LLM that has read the future is not evidence). Not said of discoveries on
the synthetic market alone (in no model's training) or of ones the offline rules provider answered every time.
Beside the whole-range figures, the llm and ensemble rows over the matured sessions judged after the cutoff alone
(`after_cutoff`): the evidence, computed by the same `evaluate` over those sessions, not a second statistic.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import date

from llmtrade.config.models import ModelRef
from llmtrade.discovery.performance import PickerPerformance, evaluate
from llmtrade.domain.discovery import ForwardReturns, SuggestionsMade
from llmtrade.domain.runs import RunStarted
from llmtrade.domain.streams import DISCOVERY
from llmtrade.domain.wording import counted
from llmtrade.storage.event_store import EventStore


def picker_answered(events: EventStore) -> bool:
    """Whether a model answered any of the books' discovery runs: False only when every one ran offline."""
    runs = {e.run_id for e in events.read(stream=DISCOVERY) if e.run_id}
    modes = {e.payload.get("mode") for e in events.read(type=RunStarted.event_type()) if e.run_id in runs}
    return modes != {"offline"}


def read_sessions(ref: ModelRef, matured: Collection[date]) -> int | None:
    """How many of the `matured` sessions were judged on or before `ref`'s knowledge cutoff; None when it gives none."""
    cutoff = ref.knowledge_cutoff
    return None if cutoff is None else sum(1 for day in matured if day <= cutoff)


def cutoff_note(ref: ModelRef, matured: Collection[date], judged: Sequence[Sequence[SuggestionsMade]]) -> str | None:
    """What the reader of the LLM picker's (and the ensemble's) figures must know of its model's cutoff; None when it
    picked nothing matured. A session judged on the cutoff day is counted as read: its close the model may know."""
    if not matured or not any(m.picker == "llm" for made in judged for m in made):
        return None
    model = f"{ref.model}, research[0]"
    read = read_sessions(ref, matured)
    if read is None:
        return (
            f"no knowledge_cutoff in models.yaml for the LLM picker's model ({model}): any session may be one whose "
            "outcome it has read about in training, so the llm and ensemble figures may not be evidence of skill"
        )
    if not read:
        return (
            "every matured session was judged after "
            f"the LLM picker's knowledge cutoff ({ref.knowledge_cutoff}, {model})"
        )
    return (
        f"{read} of the {counted(len(matured), 'matured session')} were judged on or before the LLM picker's knowledge "
        f"cutoff ({ref.knowledge_cutoff}, {model}): the llm and ensemble figures count them, and over them may be of a "
        "future the model read in training, not skill; their figures over the sessions after it are shown apart"
    )


# The rows a knowledge cutoff bears on: the LLM picker's, and the ensemble's it is a part of.
_READERS = ("llm", "ensemble")


def after_cutoff(
    ref: ModelRef,
    judged: Mapping[date, Sequence[SuggestionsMade]],
    matured: Sequence[ForwardReturns],
    *,
    horizon: int,
    top: int,
) -> tuple[list[PickerPerformance], int] | None:
    """The llm and ensemble rows over the sessions judged after `ref`'s knowledge cutoff (`matured` at `horizon`), and
    how many matured sessions that is; None when it gives no cutoff. A session judged on the cutoff day is read, as in
    `read_sessions`; the turnover and coverage are over the judged sessions after it too."""
    cutoff = ref.knowledge_cutoff
    if cutoff is None:
        return None
    later = [o for o in matured if o.horizon == horizon and o.session > cutoff]
    if not later:
        return [], 0
    rows = evaluate({d: m for d, m in judged.items() if d > cutoff}, later, horizon=horizon, top=top)
    return [row for row in rows if row.picker in _READERS], len({o.session for o in later})
