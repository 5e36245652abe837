"""A run: one invocation of a command (run-weekly, council, checkpoint...), with its mode on record."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from llmtrade.domain.events import EventPayload


def new_run_id(now: datetime) -> str:
    """Sortable by time, unique across machines: 20260107T130000Z-3f9a1c."""
    return f"{now.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


class RunStarted(EventPayload):
    command: str
    arguments: dict[str, str | int | float | bool | None]
    mode: str  # live | offline | replay
    mode_reason: str
    config_source: str
    version: str


class RunFinished(EventPayload):
    command: str
    degraded: bool
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    duration_ms: float


class RunFailed(EventPayload):
    command: str
    error_type: str
    error: str
    duration_ms: float


class WeekCompleted(EventPayload):
    """The weekly run finished every stage for the week; a later run-weekly does nothing."""

    run_id: str
    degraded: bool
    notes: list[str]
