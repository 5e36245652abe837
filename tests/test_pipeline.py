"""Stage, Pipeline and PipelineContext, recording into the real event store."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from pydantic import ValidationError

from llmtrade.domain.events import StageCompleted, StageFailed
from llmtrade.domain.streams import run_stream
from llmtrade.errors import MissingContextKey, StageError, TemporaryError
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.pipeline import Pipeline
from llmtrade.storage.bootstrap import Storage

QUERY = ContextKey("query", str)
ANSWERS = ContextKey("answers", list[str])
WEEK = date(2026, 1, 7)


class Answer:
    name = "answer"

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak_in_flight = 0

    async def run(self, context: PipelineContext) -> PipelineContext:
        query = context.get(QUERY)

        async def one(i: int) -> str:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            await asyncio.sleep(0.05)
            self.in_flight -= 1
            return f"{query}-{i}"

        # Fan-out inside a stage: three concurrent calls.
        return context.with_value(ANSWERS, list(await asyncio.gather(*(one(i) for i in range(3)))))


class Never:
    name = "never"
    ran = False

    async def run(self, context: PipelineContext) -> PipelineContext:
        self.ran = True
        return context


class Broken:
    name = "broken"

    async def run(self, context: PipelineContext) -> PipelineContext:
        raise TemporaryError("provider is down")


def test_context_is_immutable_and_updates_return_a_new_context() -> None:
    first = PipelineContext(run_id="r1", week_id=WEEK)
    second = first.with_value(QUERY, "hello")
    assert not first.has(QUERY)
    assert second.get(QUERY) == "hello"
    with pytest.raises(ValidationError):
        second.run_id = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        second.values["query"] = "changed"  # type: ignore[index]


def test_reading_a_key_nobody_set_is_a_clear_error() -> None:
    context = PipelineContext(run_id="r1").with_value(QUERY, "q")
    with pytest.raises(MissingContextKey, match=r"pipeline context has no 'answers'; it holds query"):
        context.get(ANSWERS)


def test_a_value_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(TypeError, match="context key 'query'"):
        PipelineContext(run_id="r1").with_value(QUERY, 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="context key 'answers'"):
        PipelineContext(run_id="r1").with_value(ANSWERS, "not a list")  # type: ignore[arg-type]


def test_pipeline_runs_stages_in_order_and_records_durations(storage: Storage) -> None:
    context = PipelineContext(run_id="r1", week_id=WEEK).with_value(QUERY, "q")
    stage = Answer()
    result = asyncio.run(Pipeline([stage], storage.events).run(context))
    assert result.get(ANSWERS) == ["q-0", "q-1", "q-2"]
    assert stage.peak_in_flight == 3  # the stage's three calls overlapped rather than queued
    recorded = storage.events.read(stream=run_stream("r1"))
    assert [e.type for e in recorded] == ["StageStarted", "StageCompleted"]
    assert all(e.run_id == "r1" and e.week_id == WEEK for e in recorded)
    assert StageCompleted.from_event(recorded[1]).duration_ms >= 50


def test_a_failing_stage_is_recorded_and_wrapped_with_its_name(storage: Storage) -> None:
    context = PipelineContext(run_id="r2").with_value(QUERY, "q")
    after = Never()
    with pytest.raises(StageError) as caught:
        asyncio.run(Pipeline([Answer(), Broken(), after], storage.events).run(context))
    assert after.ran is False
    assert caught.value.stage == "broken"
    assert str(caught.value) == "stage 'broken' failed: provider is down"
    assert isinstance(caught.value.__cause__, TemporaryError)
    assert caught.value.exit_code == TemporaryError.exit_code
    types = [e.type for e in storage.events.read(run_id="r2")]
    assert types == ["StageStarted", "StageCompleted", "StageStarted", "StageFailed"]
    failed = StageFailed.from_event(storage.events.read(run_id="r2", type="StageFailed")[0])
    assert (failed.stage, failed.error_type, failed.error) == ("broken", "TemporaryError", "provider is down")


def test_stage_names_must_be_unique(storage: Storage) -> None:
    with pytest.raises(ValueError, match="unique"):
        Pipeline([Answer(), Answer()], storage.events)
