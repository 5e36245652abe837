"""The weekly roles' answer schemas, built ahead of the run on a background thread.

Each role's answer model is made per universe (instruments as an enum) and its strict JSON schema
derived on first use: 5-15 ms a role, paid between one stage's answers and the next stage's requests,
four times in a weekly run. Both are cached for the process (domain builders, llm/structured.py), so
building them while the database starts takes them off the run's critical path.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence

from llmtrade.domain.committee import ReviewAnswer, decision_reply_schema, pitch_reply_schema
from llmtrade.domain.research import findings_schema
from llmtrade.llm.structured import strict_schema


def warm_up(symbols: Sequence[str]) -> threading.Thread:
    """Start building the research, pitch, review and decision schemas for `symbols`; returns the thread."""
    thread = threading.Thread(target=build, args=(list(symbols),), name="llmtrade-schemas-warm-up", daemon=True)
    thread.start()
    return thread


def build(symbols: list[str]) -> None:
    """Build the weekly roles' answer models and strict schemas for `symbols` (cached for the process).

    A universe a builder refuses is left for the role's own call to report."""
    for make in (findings_schema, pitch_reply_schema, lambda _: ReviewAnswer, decision_reply_schema):
        with contextlib.suppress(Exception):
            strict_schema(make(symbols))
