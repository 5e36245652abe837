"""`ask`'s result (issue 16): `--json` is its dump, DOCUMENTS its schema (`llmtrade schema ask`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class AskResult(BaseModel):
    """`ask`'s answer. `mode`: live or offline; `answer`: the model's text (None offline); `cited`: the event
    ids the answer rests on (live: those it cited and read; offline: every event listed); `events`: the
    events listed offline (id, type, stream, week, account, run, time, payload), newest first; `filters`:
    what the question was read as (offline); `run_id`: the run recording the model calls (live)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    question: str
    mode: str
    answer: str | None = None
    cited: list[int]
    events: list[dict[str, Any]] = []
    filters: dict[str, Any] = {}
    run_id: str | None = None
    # What `ask` warns of on stderr (events listed from after the clock: is it set back?), carried for --json.
    warnings: list[str] = []
    # The runs killed among the events asked for (offline), each said before the list: its run, command and what is
    # known of its end (RunKilled.note), with its event's id.
    killed: list[str] = []


DOCUMENTS: dict[str, Any] = {"ask": AskResult}
