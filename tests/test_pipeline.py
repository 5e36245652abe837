"""Stage, Pipeline and PipelineContext, recording into the real event store."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from pydantic import ValidationError

from llmtrade.clock import FixedClock
from llmtrade.domain.events import NewEvent, StageCompleted, StageFailed
from llmtrade.domain.streams import run_stream
from llmtrade.errors import MissingContextKey, PipelineWiringError, StageError, TemporaryError
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.pipeline import Pipeline
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.support import FIXED_NOW

QUERY = ContextKey("query", str)
ANSWERS = ContextKey("answers", list[str])
WEEK = date(2026, 1, 7)


class Answer:
    name = "answer"
    reads = (QUERY,)
    writes = (ANSWERS,)
    overlaps = False

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
    reads = ()
    writes = ()
    overlaps = False
    ran = False

    async def run(self, context: PipelineContext) -> PipelineContext:
        self.ran = True
        return context


class Broken:
    name = "broken"
    reads = ()
    writes = ()
    overlaps = False

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


# ---------------------------------------------------------------- the stage contract and the wiring


class Loads:
    """A stage whose output was stored by an earlier run: it marks itself loaded."""

    name = "loads"
    reads = (QUERY,)
    writes = (ANSWERS,)
    overlaps = False

    async def run(self, context: PipelineContext) -> PipelineContext:
        return context.with_value(ANSWERS, ["stored"]).with_loaded(self.name)


class Sloppy:
    """Writes a key it never declared."""

    name = "sloppy"
    reads = ()
    writes = ()
    overlaps = False

    async def run(self, context: PipelineContext) -> PipelineContext:
        return context.with_value(ANSWERS, ["undeclared"])


class Lazy:
    """Declares a key it then does not write."""

    name = "lazy"
    reads = ()
    writes = (ANSWERS,)
    overlaps = False

    async def run(self, context: PipelineContext) -> PipelineContext:
        return context


class Needs:
    """Reads the answers, which only the stage after it writes."""

    name = "needs"
    reads = (ANSWERS,)
    writes = ()
    overlaps = False

    async def run(self, context: PipelineContext) -> PipelineContext:
        return context


class Undeclared:
    name = "undeclared"

    async def run(self, context: PipelineContext) -> PipelineContext:
        return context


def test_a_missing_input_is_refused_when_the_pipeline_is_built(storage: Storage) -> None:
    with pytest.raises(PipelineWiringError) as caught:
        Pipeline([Answer()], storage.events, inputs=())
    assert (caught.value.stage, caught.value.key) == ("answer", "query")
    assert "stage 'answer' reads 'query'" in str(caught.value) and "no stage of this pipeline writes it" in str(
        caught.value
    )
    Pipeline([Answer()], storage.events, inputs=(QUERY,))  # provided: fine


def test_the_wiring_error_names_a_stage_that_writes_the_key_too_late(storage: Storage) -> None:
    with pytest.raises(PipelineWiringError, match=r"stage\(s\) answer write it, but only after"):
        Pipeline([Never(), Needs(), Answer()], storage.events, inputs=(QUERY,))
    writes_query = type("AsksQuery", (Never,), {"name": "asks", "reads": (), "writes": (QUERY,)})
    Pipeline([writes_query(), Answer()], storage.events, inputs=())  # an earlier stage provides it


def test_run_refuses_a_context_without_the_declared_inputs_before_any_stage_starts(storage: Storage) -> None:
    stage = Answer()
    pipeline = Pipeline([stage], storage.events, inputs=(QUERY,))
    with pytest.raises(PipelineWiringError, match="lacks declared input"):
        asyncio.run(pipeline.run(PipelineContext(run_id="w1")))
    undeclared = Pipeline([stage], storage.events)  # no inputs promised: checked against the context itself
    with pytest.raises(PipelineWiringError, match="stage 'answer' reads 'query'"):
        asyncio.run(undeclared.run(PipelineContext(run_id="w1")))
    assert stage.peak_in_flight == 0
    assert storage.events.read(run_id="w1") == []  # not even a StageStarted


def test_a_stage_must_declare_what_it_reads_and_writes(storage: Storage) -> None:
    undeclared = Undeclared()
    with pytest.raises(PipelineWiringError, match="must declare `overlaps` as True or False"):
        Pipeline([undeclared], storage.events)  # type: ignore[list-item]
    undeclared.overlaps = False  # type: ignore[attr-defined]
    with pytest.raises(PipelineWiringError, match="must declare `reads`"):
        Pipeline([undeclared], storage.events)  # type: ignore[list-item]


@pytest.mark.parametrize(("stage", "message"), [(Sloppy(), "without declaring it"), (Lazy(), "did not write it")])
def test_a_stage_that_breaks_its_declaration_fails(storage: Storage, stage: object, message: str) -> None:
    with pytest.raises(StageError, match=message):
        asyncio.run(Pipeline([stage], storage.events).run(PipelineContext(run_id="w2")))  # type: ignore[list-item]
    assert [e.type for e in storage.events.read(run_id="w2")] == ["StageStarted", "StageFailed"]


def test_a_stage_that_loads_its_stored_output_is_reported_as_loaded(storage: Storage) -> None:
    seen: list[tuple[str, str]] = []
    pipeline = Pipeline(
        [Loads(), Never()], storage.events, lambda stage, state, _: seen.append((stage, state)), inputs=(QUERY,)
    )
    result = asyncio.run(pipeline.run(PipelineContext(run_id="r3").with_value(QUERY, "q")))
    assert result.loaded == ("loads",)
    assert [(r.name, r.outcome) for r in result.reports] == [("loads", "loaded"), ("never", "ran")]
    assert seen == [("loads", "started"), ("loads", "loaded"), ("never", "started"), ("never", "completed")]
    completed = [StageCompleted.from_event(e) for e in storage.events.read(run_id="r3", type="StageCompleted")]
    assert [(c.stage, c.loaded) for c in completed] == [("loads", True), ("never", False)]


def test_a_stage_completed_event_written_before_the_loaded_field_still_loads(storage: Storage) -> None:
    old = storage.events.append(
        [NewEvent(type="StageCompleted", stream=run_stream("old"), payload={"stage": "research", "duration_ms": 1.0})]
    )
    assert StageCompleted.from_event(old[0]).loaded is False


class Peeks:
    """Reads the query without declaring it."""

    name = "peeks"
    reads = ()
    writes = ()
    overlaps = False

    async def run(self, context: PipelineContext) -> PipelineContext:
        context.get(QUERY)
        return context


def test_a_stage_sees_only_the_keys_it_declares_and_the_rest_flow_past_it(storage: Storage) -> None:
    context = PipelineContext(run_id="r4").with_value(QUERY, "q")
    with pytest.raises(StageError, match="pipeline context has no 'query'"):
        asyncio.run(Pipeline([Peeks()], storage.events).run(context))
    result = asyncio.run(Pipeline([Never(), Answer()], storage.events).run(context))
    assert result.get(QUERY) == "q" and result.get(ANSWERS) == ["q-0", "q-1", "q-2"]


def test_a_layout_checked_once_still_fails_every_time_it_is_miswired_and_passes_when_sound(storage: Storage) -> None:
    # The wiring is remembered per layout once found sound (a pipeline is built per job); a faulty one is never kept.
    for _ in range(3):
        with pytest.raises(PipelineWiringError, match="stage 'answer' reads 'query'"):
            Pipeline([Answer()], storage.events, inputs=())
        Pipeline([Answer()], storage.events, inputs=(QUERY,))
    # The same stage class with its own, wrong declaration on an instance is checked for what it declares.
    broken = Answer()
    broken.reads = [QUERY]  # type: ignore[assignment]
    with pytest.raises(PipelineWiringError, match="must declare `reads`"):
        Pipeline([broken], storage.events, inputs=(QUERY,))


def test_with_values_sets_every_pair_in_order_and_checks_each_type() -> None:
    base = PipelineContext(run_id="r").with_value(QUERY, "old")
    both = base.with_values((ANSWERS, ["a"]), (QUERY, "new"), (ANSWERS, ["b"]))
    assert (both.get(QUERY), both.get(ANSWERS), base.get(QUERY)) == ("new", ["b"], "old")
    assert list(both.values) == ["query", "answers"]  # an existing key keeps its place, as with_value keeps it
    with pytest.raises(TypeError, match="context key 'answers'"):
        base.with_values((QUERY, "fine"), (ANSWERS, "not a list"))


def test_a_store_without_stage_timings_keeps_a_stages_failure_but_not_its_start_and_end(storage: Storage) -> None:
    # A backtest's store (app/backtest_container.py): the stages run and are heard and reported as ever.
    store = EventStore(storage.conn, FixedClock(FIXED_NOW), stage_timings=False)
    heard: list[tuple[str, str]] = []
    ran = asyncio.run(
        Pipeline([Answer()], store, lambda stage, state, _s: heard.append((stage, state))).run(
            PipelineContext(run_id="untimed-ok").with_value(QUERY, "q")
        )
    )
    assert ran.get(ANSWERS) == ["q-0", "q-1", "q-2"] and [r.name for r in ran.reports] == ["answer"]
    assert storage.events.read(run_id="untimed-ok") == []
    with pytest.raises(StageError):
        asyncio.run(
            Pipeline([Answer(), Broken(), Never()], store, lambda stage, state, _s: heard.append((stage, state))).run(
                PipelineContext(run_id="untimed-failed").with_value(QUERY, "q")
            )
        )
    assert [e.type for e in storage.events.read(run_id="untimed-failed")] == ["StageFailed"]
    assert heard == [("answer", "started"), ("answer", "completed")] * 2 + [("broken", "started"), ("broken", "failed")]
    # A dry run on a view of the store records as the real run would; live's store keeps the timings.
    assert store.draft().stage_timings is False
    assert storage.events.stage_timings is True and storage.events.draft().stage_timings is True
