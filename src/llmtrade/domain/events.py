"""Event records: what the event store takes in and gives back.

An event's `type` is the past-tense name of what happened ("StageCompleted", "OrderSubmitted").
Typed payloads subclass EventPayload; their class name is the event type, so the name in the
database and the name in code cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from llmtrade.domain.records import assembled


class EventPayload(BaseModel):
    """Base of typed event payloads; the subclass name is the event type.

    Old events keep loading after a payload changes shape (after pyeventsourcing's
    `class_version` and `upcast_vN_vN+1`): raise the class's `schema_version` and add a static
    method `upcast_v{N}_v{N+1}(payload: dict) -> dict` for each step. Every event is stored with
    the version it was written at, and `from_event` applies the steps from that version up before
    validating. A class whose chain has a gap fails when it is defined, not when an old event is read.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: ClassVar[int] = 1

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        missing = [
            f"upcast_v{n}_v{n + 1}" for n in range(1, cls.schema_version) if not hasattr(cls, f"upcast_v{n}_v{n + 1}")
        ]
        if missing:
            raise TypeError(
                f"{cls.__name__} is at schema_version {cls.schema_version} but has no {', '.join(missing)}: "
                "events stored at older versions could not be read"
            )

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__

    @classmethod
    def upcast(cls, payload: dict[str, Any], version: int) -> dict[str, Any]:
        """`payload`, stored at schema `version`, brought up to this class's `schema_version`.

        Raises ValueError for a version newer than this code (an event written by a later llmtrade)."""
        if version > cls.schema_version:
            raise ValueError(
                f"{cls.__name__} event is at schema version {version}, newer than this llmtrade knows "
                f"({cls.schema_version}): upgrade llmtrade to read it"
            )
        data = dict(payload)
        for n in range(max(version, 1), cls.schema_version):
            data = getattr(cls, f"upcast_v{n}_v{n + 1}")(data)
        return data

    @classmethod
    def from_event(cls, event: StoredEvent) -> Self:
        if event.type != cls.event_type():
            raise ValueError(f"event {event.id} is a {event.type}, not a {cls.event_type()}")
        # Stored at this version, the payload is validated as it is: no copy made for upcasts there are none of.
        if event.schema_version == cls.schema_version:
            return cls.model_validate(event.payload)
        return cls.model_validate(cls.upcast(event.payload, event.schema_version))


def known_event_types() -> frozenset[str]:
    """Every event type this llmtrade records: the names of EventPayload's subclasses, with each domain module
    imported first (every payload is defined in one)."""
    import importlib  # lazy: only a look-up by type name (`events --type`) needs the whole domain loaded
    import pkgutil

    import llmtrade.domain

    for module in pkgutil.iter_modules(llmtrade.domain.__path__):
        importlib.import_module(f"llmtrade.domain.{module.name}")
    found: set[str] = set()
    pending = list(EventPayload.__subclasses__())
    while pending:
        cls = pending.pop()
        found.add(cls.event_type())
        pending.extend(cls.__subclasses__())
    return frozenset(found)


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
        """`payload` as an event for `stream`: its JSON dump (a fresh dict), its type and schema version.

        Raises pydantic's ValidationError for an empty stream or a value of the wrong type."""
        # The serializer directly: model_dump's keyword handling cost as much as the dump of a small payload.
        data = payload.__pydantic_serializer__.to_python(payload, mode="json")
        if cls is NewEvent:
            # A payload's type is its class name, never empty; its dump is a fresh dict of str keys.
            made = NewEvent.unvalidated(
                payload.event_type(),
                data,
                payload.schema_version,
                stream=stream,
                week_id=week_id,
                account_id=account_id,
                run_id=run_id,
            )
            if made is not None:
                return made
        return cls(
            type=payload.event_type(),
            stream=stream,
            payload=data,
            week_id=week_id,
            account_id=account_id,
            run_id=run_id,
            schema_version=payload.schema_version,
        )

    @staticmethod
    def unvalidated(
        type_: str,
        payload: dict[str, Any],
        schema_version: int,
        *,
        stream: str,
        week_id: date | None,
        account_id: str | None,
        run_id: str | None,
    ) -> NewEvent | None:
        """The event, built without validation when the stream and the ids already have the exact types their fields
        want (validating would only copy the payload again), else None: the caller validates. `type_` must be a
        non-empty str and `payload` a fresh dict of str keys (a payload model's dump): not checked here."""
        if not (
            type(stream) is str
            and stream
            and (week_id is None or type(week_id) is date)
            and (account_id is None or type(account_id) is str)
            and (run_id is None or type(run_id) is str)
        ):
            return None
        fields = {
            "type": type_,
            "stream": stream,
            "payload": payload,
            "week_id": week_id,
            "account_id": account_id,
            "run_id": run_id,
            "schema_version": schema_version,
        }
        return assembled(NewEvent, fields, set(_NEW_EVENT_FIELDS))


_NEW_EVENT_FIELDS = frozenset(NewEvent.model_fields)


@runtime_checkable
class EventSink(Protocol):
    """Anything events can be appended to (the EventStore, its draft view, a test's sink): lets upper layers record
    without knowing which. The one contract every sink keeps whole (tests/test_event_sinks.py runs it against each),
    so a caller never asks a sink whether it can (a getattr with a default hid a sink that could not)."""

    # Whether pipelines record each stage's start and end here (a backtest's store: no; storage/event_store.py).
    stage_timings: bool

    def append(self, events: Sequence[NewEvent]) -> object: ...

    @property
    def holds_appends(self) -> bool:
        """Whether an append is held in memory until `flush` (costing no I/O) rather than written at once."""
        ...

    def flush(self) -> None:
        """Write what the sink holds, now; nothing to do for one that writes at append."""
        ...

    def writing(self) -> AbstractContextManager[object]:
        """Held around a transaction of the caller's on the sink's connection that spans appends (a model call's
        cache entry and its record, a memory and its rows: one commit), so that no other thread's append lands
        inside it (and rolls back with it). Re-entrant: the sink's own appends inside it take it again."""
        ...


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
    # True when the stage found its write-once output stored and loaded it (a resumed run);
    # events written before this field existed load as False.
    loaded: bool = False


class StageFailed(EventPayload):
    """A stage's failure, or its wait: `error_type` Waiting (errors.Waiting) is a stage that stopped to wait.

    Schema 2 says a wait that way. At schema 1, before errors.Waiting, a wait said TemporaryError, as a provider down
    did: only its run's StageDeferred of the same stage told them apart. So its upcast is in SQL, where those events
    are (migration 0017 `stage_failed_as_read`, on every read of the store and in the metrics): a payload read from
    the store is already at schema 2's shape."""

    schema_version: ClassVar[int] = 2

    stage: str
    duration_ms: float
    error_type: str
    error: str

    @staticmethod
    def upcast_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
        # The store's read did it (see above): the payload alone cannot.
        return payload


class AnswerHeld(EventPayload):
    """One role's answer to a week's stage that then stopped because other roles failed for a temporary
    reason, or because one of them stopped the run (its prompt did not render, the budget was spent). Kept on the
    stage's held stream (streams.held_stream) so a rerun uses it instead of paying for the same question again;
    the stage's write-once stream gets the answer only when the stage settles.

    `key` names the role within the stage (a research provider id, a PM id, a review id, an account id);
    `answer` is the payload of the event the stage will store (`answer_type`, at `answer_version`); `basis`, what it
    was asked with (the prompt templates and the stage's models, pipeline/retry.asked_with): a rerun asked with
    another (a template edited after a PromptError, a model changed) asks again rather than mix the two."""

    schema_version: ClassVar[int] = 2

    stage: str
    key: str
    answer_type: str
    answer_version: int
    answer: dict[str, Any]
    basis: str | None = None

    @staticmethod
    def upcast_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
        # Schema 1 was held by a temporary failure only, with no record of what it was asked with: reused as before.
        return {**payload, "basis": None}


class FailureHeld(EventPayload):
    """One role's final failure (an answer still invalid after its repair, a truncated or empty one, a refusal) in a
    week's stage that then stopped because other roles failed for a temporary reason (or one stopped the run): kept on
    the stage's held stream beside the AnswerHeld answers, so a rerun takes it as it is instead of asking (and paying
    for) the same question again; the stage's write-once stream gets it, as the stage's failure record, when the stage
    settles. `error_type` and `error` are the failure's; `basis` as AnswerHeld's."""

    stage: str
    key: str
    error_type: str
    error: str
    basis: str | None = None


class StageDeferred(EventPayload):
    """A week's stage stopped before its retry deadline because these roles failed for a temporary reason
    (unreachable, timeout, 429, 5xx); nothing final was stored, and a rerun asks them again. `failed` names the roles
    that failed for good meanwhile (held with FailureHeld: not asked again)."""

    stage: str
    waiting: list[str]  # role keys
    errors: list[str]  # "key: ErrorType: message", one per waiting role
    deadline: datetime | None  # None: no deadline, every rerun retries
    failed: list[str] = []  # "key: ErrorType: message", one per role failed for good; defaulted for old events


class InputsMissing(EventPayload):
    """A week's stage went on without these roles' answers: their temporary failures lasted past the
    stage's retry deadline, so their absence is now final (and the run is degraded)."""

    stage: str
    missing: list[str]  # role keys
    errors: list[str]  # "key: ErrorType: message"
    deadline: datetime | None


# LLMCallCompleted.source of the offline rules provider's answers (llm/gateway.py): no model gave them and they cost
# $0, so every count of model calls (a run's footer, status, the report, trace, a backtest's) counts them apart.
RULES_SOURCE = "rules"


def rules_answer(payload: Mapping[str, Any]) -> bool:
    """Whether an LLMCallCompleted payload is the offline rules provider's answer, not a model's."""
    return payload.get("source") == RULES_SOURCE


class LLMCallCompleted(EventPayload):
    """One request to a model and its answer (from the provider, the offline rules or the cache)."""

    role: str
    provider: str
    model: str
    source: str  # live | rules | cache
    messages: list[dict[str, str]]
    answer: str
    schema_name: str | None
    outcome: str  # ok | invalid (a repair follows or the role fails) | repaired
    problem: str | None = None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float
    attempts: int
    cache_key: str
    # What the reply normaliser found besides the answer; defaulted so events stored before keep loading.
    reasoning: str | None = None  # the provider's reasoning field (reasoning / reasoning_content)
    think: str | None = None  # a <think> block stripped from the front of the answer
    answer_from: str = "content"  # content | reasoning (only when the provider is configured to allow it)
    response_mode: str | None = None  # json_schema | json_schema_core | json_object | text: which format answered
    finish_reason: str | None = None
    max_tokens: int | None = None
    note: str | None = None  # e.g. a repair after truncation that raised max_tokens
    # The reply gave no usage, so cost_usd is None (unknown): what the budget counted for it instead (the worst case
    # it held). None when the cost is known or no budget was set. Defaulted: events stored before keep loading.
    cost_counted_usd: float | None = None
    # Attempts cut off after the provider answered 200 (the whole-attempt deadline, a dropped body): generated and
    # billed at a cost never reported, so the call's cost is unknown (counted at its worst case). Defaulted.
    cut_off_attempts: int = 0


class LLMCallFailed(EventPayload):
    """A request that got no usable answer from its provider (after every retry), or whose reply the
    normaliser rejected (truncated, filtered, empty, an upstream error inside a 200)."""

    role: str
    provider: str
    model: str
    messages: list[dict[str, str]]
    error_type: str
    error: str
    cache_key: str
    # What did come back, when something did; defaulted so events stored before keep loading.
    answer: str | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    response_mode: str | None = None
    max_tokens: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    note: str | None = None
    # What the reply that came back cost (its tokens are billed though unusable): the provider's figure or the tokens
    # at models.yaml `prices`; None when unknown (no usage, no price, or no reply at all). Defaulted for old events.
    cost_usd: float | None = None
    cost_counted_usd: float | None = None  # as LLMCallCompleted's: the budget's worst case for an unknown cost
    cut_off_attempts: int = 0  # as LLMCallCompleted's
    # A reply (or a 200) came back, so the provider bills the call, its cost known or not. Defaulted: older records
    # are read by their tokens and costs as before.
    billed: bool = False


class BudgetRefused(EventPayload):
    """A model call not sent because of a dollar budget (models.yaml `budget:`; llm/budget.py): `budget`
    is "run", "week" or "backtest" (`backtest --live-misses`), `limit_usd` its ceiling, `spent_usd` what
    its calls cost so far, `reserved_usd` the worst cases of calls still in flight, `worst_case_usd` this
    call's (None: its model has no price).
    The run stops here, recorded as failed."""

    role: str
    model: str
    budget: str  # run | week | backtest
    limit_usd: float
    spent_usd: float
    reserved_usd: float
    worst_case_usd: float | None
    reason: str
