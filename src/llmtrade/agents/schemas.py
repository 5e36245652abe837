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
    """Start building the research, pitch, review and decision schemas for `symbols`; returns the thread.

    Not a daemon: the interpreter waits for it at exit (tens of ms). pydantic-core is native code, and a daemon
    thread still inside it when a command ended early could be unwound by finalization and glibc abort the process
    (exit 134), as the embedder's warm-up did (memory/embedder.py)."""
    thread = threading.Thread(target=build, args=(list(symbols),), name="llmtrade-schemas-warm-up", daemon=False)
    thread.start()
    return thread


def build(symbols: list[str]) -> None:
    """Build the weekly roles' answer models and strict schemas for `symbols` (cached for the process).

    A universe a builder refuses is left for the role's own call to report."""
    for make in (findings_schema, pitch_reply_schema, lambda _: ReviewAnswer, decision_reply_schema):
        with contextlib.suppress(Exception):
            strict_schema(make(symbols))
