"""Event records: what the event store takes in and gives back.

An event's `type` is the past-tense name of what happened ("StageCompleted", "OrderSubmitted").
Typed payloads subclass EventPayload; their class name is the event type, so the name in the
database and the name in code cannot drift apart.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field


class EventPayload(BaseModel):
    """Base of typed event payloads; the subclass name is the event type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: ClassVar[int] = 1

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__

    @classmethod
    def from_event(cls, event: StoredEvent) -> Self:
        if event.type != cls.event_type():
            raise ValueError(f"event {event.id} is a {event.type}, not a {cls.event_type()}")
        return cls.model_validate(event.payload)


class NewEvent(BaseModel):
    """An event about to be appended. The store assigns id, version and occurred_at."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str = Field(min_length=1)
    stream: str = Field(min_length=1)
    payload: dict[str, Any] = Field(default_factory=dict)
    week_id: date | None = None
    account_id: str | None = None
    run_id: str | None = None
    schema_version: int = 1

    @classmethod
    def of(
        cls,
        payload: EventPayload,
        *,
        stream: str,
        week_id: date | None = None,
        account_id: str | None = None,
        run_id: str | None = None,
    ) -> NewEvent:
        return cls(
            type=payload.event_type(),
            stream=stream,
            payload=payload.model_dump(mode="json"),
            week_id=week_id,
            account_id=account_id,
            run_id=run_id,
            schema_version=payload.schema_version,
        )


class StoredEvent(NewEvent):
    """An event as stored: immutable, with its global id and its version within its stream."""

    id: int
    version: int
    occurred_at: datetime


class StageStarted(EventPayload):
    stage: str


class StageCompleted(EventPayload):
    stage: str
    duration_ms: float


class StageFailed(EventPayload):
    stage: str
    duration_ms: float
    error_type: str
    error: str
