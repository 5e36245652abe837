"""Events and contexts built without validating again what is already valid: the same objects validation gives."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from llmtrade.domain.events import (
    EventPayload,
    LLMCallCompleted,
    NewEvent,
    StageCompleted,
    StageStarted,
    StoredEvent,
)
from llmtrade.domain.memory import MemoryRecalled
from llmtrade.domain.runs import RunStarted
from llmtrade.domain.streams import run_stream
from llmtrade.pipeline.context import ContextKey, PipelineContext, StageReport
from llmtrade.pipeline.pipeline import Pipeline
from tests.fakes.sinks import ListSink

WEEK = date(2016, 1, 6)
PAYLOADS: list[EventPayload] = [
    StageStarted(stage="trade"),
    StageCompleted(stage="trade", duration_ms=1.25, loaded=True),
    MemoryRecalled(
        role="checkpoint:a1", week_id=WEEK, as_of=datetime(2016, 1, 6, 13, tzinfo=UTC), query="q", memory_ids=["m1"]
    ),
    RunStarted(
        command="checkpoint",
        arguments={"offline": True, "week": "2016-01-06", "n": 3, "x": 0.5, "none": None},
        mode="offline",
        mode_reason="--offline given",
        config_source="c",
        version="0.1.0",
    ),
    LLMCallCompleted(
        role="pm:a",
        provider="rules",
        model="m/x",
        source="rules",
        messages=[{"role": "system", "content": 'é \u2028 "quoted"'}, {"role": "user", "content": "hi"}],
        answer="{}",
        schema_name="Pitch",
        outcome="ok",
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.0,
        latency_ms=0.5,
        attempts=1,
        cache_key="k",
    ),
]


def _validated(payload: EventPayload, **where: Any) -> NewEvent:
    """The event as NewEvent's validation builds it: what `of` built before it skipped validating."""
    return NewEvent(
        type=payload.event_type(),
        payload=payload.model_dump(mode="json"),
        schema_version=payload.schema_version,
        **({"week_id": None, "account_id": None, "run_id": None} | where),
    )


def _same(built: BaseModel, validated: BaseModel) -> None:
    """Equal as validation would make it: values of the same types (repr tells 1.0 from 1), the same fields set."""
    assert built == validated
    assert repr(built.__dict__) == repr(validated.__dict__)
    assert built.model_fields_set == validated.model_fields_set
    assert repr(built.model_dump()) == repr(validated.model_dump())


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.event_type())
@pytest.mark.parametrize(
    "where",
    [
        {"stream": "run:x", "week_id": WEEK, "run_id": "x", "account_id": "a1"},
        {"stream": "run:x"},
    ],
)
def test_an_event_built_from_a_payload_is_the_event_validation_builds(
    payload: EventPayload, where: dict[str, Any]
) -> None:
    _same(NewEvent.of(payload, **where), _validated(payload, **where))


def test_each_event_gets_a_payload_of_its_own() -> None:
    payload = PAYLOADS[-1]
    first, second = (NewEvent.of(payload, stream="llm:x") for _ in range(2))
    first.payload["messages"][0]["content"] = "changed"
    first.payload["answer"] = "changed"
    assert second.payload == payload.model_dump(mode="json")
    assert payload.messages[0]["content"] == 'é \u2028 "quoted"'


class _Account(StrEnum):
    A1 = "a1"


@pytest.mark.parametrize(
    "where",
    [
        {"stream": "run:x", "account_id": _Account.A1},  # a str of another type: validation decides
        {"stream": "run:x", "week_id": datetime(2016, 1, 6)},  # midnight: validation makes it a date
    ],
)
def test_values_of_another_type_are_validated_as_before(where: dict[str, Any]) -> None:
    _same(NewEvent.of(PAYLOADS[0], **where), _validated(PAYLOADS[0], **where))


@pytest.mark.parametrize(
    "where",
    [{"stream": ""}, {"stream": "run:x", "week_id": datetime(2016, 1, 6, 13)}, {"stream": "run:x", "run_id": 7}],
)
def test_values_validation_refuses_are_still_refused(where: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        NewEvent.of(PAYLOADS[0], **where)


KEY_A, KEY_B = ContextKey("a", int), ContextKey("b", str)


def _copied(context: PipelineContext, **update: Any) -> PipelineContext:
    return context.model_copy(update=update)


def test_every_context_update_is_the_model_copy_it_replaces_and_leaves_the_original_alone() -> None:
    start = PipelineContext(run_id="x", week_id=WEEK)
    one = start.with_value(KEY_A, 1)
    _same(one, _copied(start, values=MappingProxyType({"a": 1})))
    two = one.with_value(KEY_B, "b")
    _same(two, _copied(one, values=MappingProxyType({"a": 1, "b": "b"})))
    _same(two.only((KEY_B,)), _copied(two, values=MappingProxyType({"b": "b"})))
    _same(one.with_loaded("s"), _copied(one, loaded=("s",)))
    report = StageReport(name="s", outcome="ran", seconds=0.5)
    _same(one.with_report(report), _copied(one, reports=(report,)))
    outputs = two.only((KEY_B,)).with_loaded("s")
    _same(
        one.merged(outputs, (KEY_B,), report),
        _copied(one, values=MappingProxyType({"a": 1, "b": "b"}), loaded=("s",), reports=(report,)),
    )
    # The contexts updated from are as they were: nothing they hold was shared and changed.
    assert start.values == {} and start.loaded == () and start.reports == ()
    assert dict(one.values) == {"a": 1} and one.loaded == () and one.reports == ()
    with pytest.raises(ValidationError):
        two.run_id = "y"  # type: ignore[misc]


class _Writes:
    name = "writes"
    reads = ()
    writes = (KEY_A,)
    overlaps = False

    async def run(self, context: PipelineContext) -> PipelineContext:
        return context.with_value(KEY_A, 1)


def test_a_stages_started_event_is_its_own_runs_in_every_run() -> None:
    sink = ListSink()
    for run_id in ("r1", "r2"):
        asyncio.run(Pipeline([_Writes()], sink).run(PipelineContext(run_id=run_id, week_id=WEEK)))
    started = [e for e in sink.events if e.type == "StageStarted"]
    assert [(e.stream, e.run_id, e.payload) for e in started] == [
        (run_stream(run), run, {"stage": "writes"}) for run in ("r1", "r2")
    ]
    assert started[0].payload is not started[1].payload
    for event in started:
        _same(event, _validated(StageStarted(stage="writes"), stream=event.stream, run_id=event.run_id, week_id=WEEK))


def test_a_payload_stored_at_its_current_version_loads_as_validation_of_it_gives_and_keeps_nothing_of_it() -> None:
    event = NewEvent.of(PAYLOADS[3], stream="run:x")
    stored = StoredEvent(**event.model_dump(), id=1, version=1, occurred_at=datetime(2016, 1, 6, 13, tzinfo=UTC))
    loaded = RunStarted.from_event(stored)
    _same(loaded, RunStarted.model_validate(dict(stored.payload)))
    stored.payload["command"] = "changed"
    stored.payload["arguments"]["offline"] = False
    assert loaded == PAYLOADS[3]
