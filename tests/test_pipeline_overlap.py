"""Overlapping stages (pipeline/stage.py `overlaps`): run alongside the stages after them, joined before a
reader of their writes, always awaited and recorded, their failure failing the run. Against the real store;
the memory stages' side connection against a real second connection."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date

import psycopg
import pytest

from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.events import StageCompleted, StageFailed
from llmtrade.domain.memory import SetupRemembered
from llmtrade.errors import OperationalError, StageError
from llmtrade.pipeline.context import ContextKey, PipelineContext
from llmtrade.pipeline.pipeline import Pipeline, hold_back
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.memory_stages import RememberPitchesStage
from llmtrade.workflows.workbench import Side, Workbench
from tests.support import FIXED_NOW
from tests.test_memory_use_units import _pitch

NOTE = ContextKey("note", str)
LATER = ContextKey("later", str)
WEEK = date(2026, 1, 7)
PAUSE = 0.2


@pytest.fixture(scope="module")
def url(pg_admin_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, query = pg_admin_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


@pytest.fixture(scope="module")
def shared(url: str) -> Iterator[Storage]:
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as opened:
        yield opened


def _run_id() -> str:
    return f"run-{uuid.uuid4().hex[:8]}"


class Beside:
    """Overlaps: blocking work on a worker thread, then writes NOTE (or fails)."""

    name = "beside"
    reads = ()
    writes = (NOTE,)
    overlaps = True

    def __init__(self, *, fail: bool = False, loaded: bool = False) -> None:
        self.fail, self.loaded = fail, loaded
        self.finished = False
        self.span: tuple[float, float] = (0.0, 0.0)

    async def run(self, context: PipelineContext) -> PipelineContext:
        if self.loaded:
            return context.with_value(NOTE, "stored").with_loaded(self.name)
        began = time.perf_counter()
        await asyncio.to_thread(time.sleep, PAUSE)
        self.span = (began, time.perf_counter())
        self.finished = True
        if self.fail:
            raise OperationalError("the memory's database went away")
        return context.with_value(NOTE, "noted")


class Waits:
    """A stage that waits (for a model, say) and reads nothing the overlapping stage writes."""

    name = "waits"
    reads = ()
    writes = (LATER,)
    overlaps = False

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.span: tuple[float, float] = (0.0, 0.0)

    async def run(self, context: PipelineContext) -> PipelineContext:
        began = time.perf_counter()
        await asyncio.sleep(PAUSE)
        self.span = (began, time.perf_counter())
        if self.fail:
            raise OperationalError("the model refused")
        return context.with_value(LATER, "waited")


class Reads:
    name = "reads"
    reads = (NOTE,)
    writes = ()
    overlaps = False

    def __init__(self) -> None:
        self.seen: str | None = None

    async def run(self, context: PipelineContext) -> PipelineContext:
        self.seen = context.get(NOTE)
        return context


class HoldsBack:
    """Overlaps: holds its work back for up to `seconds` (pipeline.hold_back), then writes NOTE."""

    name = "holds_back"
    reads = ()
    writes = (NOTE,)
    overlaps = True

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.held = 0.0

    async def run(self, context: PipelineContext) -> PipelineContext:
        began = time.perf_counter()
        await hold_back(self.seconds)
        self.held = time.perf_counter() - began
        return context.with_value(NOTE, "noted")


def test_a_held_back_stage_starts_as_soon_as_the_pipeline_needs_its_result(shared: Storage) -> None:
    # Its reader comes at once (nothing to overlap, as offline): the hold ends then, not after its 10 s.
    holds, reader = HoldsBack(10.0), Reads()
    asyncio.run(Pipeline([holds, reader], shared.events).run(PipelineContext(run_id=_run_id())))
    assert reader.seen == "noted" and holds.held < 1.0


def test_a_held_back_stage_waits_its_time_while_the_stages_after_it_run(shared: Storage) -> None:
    holds, waits, reader = HoldsBack(PAUSE / 4), Waits(), Reads()
    asyncio.run(Pipeline([holds, waits, reader], shared.events).run(PipelineContext(run_id=_run_id())))
    assert reader.seen == "noted" and PAUSE / 4 <= holds.held < PAUSE


def _stages(shared: Storage, run_id: str) -> list[tuple[str, str]]:
    out = []
    for event in shared.events.read(run_id=run_id):
        payload = event.payload
        out.append((event.type, payload["stage"]))
    return out


def test_an_overlapping_stage_runs_while_the_next_one_waits_and_its_reader_waits_for_it(shared: Storage) -> None:
    run_id, beside, waits, reader = _run_id(), Beside(), Waits(), Reads()
    result = asyncio.run(Pipeline([beside, waits, reader], shared.events).run(PipelineContext(run_id=run_id)))
    # Side by side: the next stage started waiting before the overlapping one's work ended, and the other way round.
    assert waits.span[0] < beside.span[1] and beside.span[0] < waits.span[1]
    assert reader.seen == "noted" and result.get(NOTE) == "noted" and result.get(LATER) == "waited"
    assert ("StageCompleted", "beside") in _stages(shared, run_id)
    done = [StageCompleted.from_event(e) for e in shared.events.read(run_id=run_id, type="StageCompleted")]
    beside = next(c for c in done if c.stage == "beside")
    assert beside.duration_ms >= PAUSE * 1000 and beside.loaded is False


def test_a_failing_overlapping_stage_fails_the_run_before_a_reader_of_its_writes(shared: Storage) -> None:
    run_id, reader = _run_id(), Reads()
    with pytest.raises(StageError) as caught:
        asyncio.run(Pipeline([Beside(fail=True), Waits(), reader], shared.events).run(PipelineContext(run_id=run_id)))
    assert caught.value.stage == "beside" and "went away" in str(caught.value)
    assert reader.seen is None  # the stage that needed its output never ran
    failed = [StageFailed.from_event(e) for e in shared.events.read(run_id=run_id, type="StageFailed")]
    assert [(f.stage, f.error_type) for f in failed] == [("beside", "OperationalError")]


def test_a_failing_overlapping_stage_fails_the_run_at_its_end_when_nothing_reads_it(shared: Storage) -> None:
    run_id = _run_id()
    with pytest.raises(StageError, match="stage 'beside' failed"):
        asyncio.run(Pipeline([Beside(fail=True), Waits()], shared.events).run(PipelineContext(run_id=run_id)))
    assert ("StageCompleted", "waits") in _stages(shared, run_id)
    assert ("StageFailed", "beside") in _stages(shared, run_id)


def test_a_stage_failing_meanwhile_still_waits_for_the_overlapping_one_and_records_it(shared: Storage) -> None:
    run_id, beside = _run_id(), Beside()
    with pytest.raises(StageError) as caught:
        asyncio.run(Pipeline([beside, Waits(fail=True)], shared.events).run(PipelineContext(run_id=run_id)))
    assert caught.value.stage == "waits"  # the run's failure is the stage that failed, not the one beside it
    assert beside.finished  # its work was not abandoned half way
    recorded = _stages(shared, run_id)
    assert ("StageFailed", "waits") in recorded and ("StageCompleted", "beside") in recorded


def test_an_overlapping_stage_that_loads_is_joined_in_its_place(shared: Storage) -> None:
    run_id = _run_id()
    result = asyncio.run(
        Pipeline([Beside(loaded=True), Waits(), Reads()], shared.events).run(PipelineContext(run_id=run_id))
    )
    assert result.loaded == ("beside",)
    assert [r.name for r in result.reports] == ["beside", "waits", "reads"]
    completed = [e.payload["stage"] for e in shared.events.read(run_id=run_id, type="StageCompleted")]
    assert completed == ["beside", "waits", "reads"]


# ---------------------------------------------------------------- the memory stages on a side connection


class FailingMemory:
    def remember(self, items: object, *, week_id: date, run_id: str | None) -> None:
        raise OperationalError("could not write the memory")


def _bench(shared: Storage, url: str, memory: object, opened: list[Storage]) -> Workbench:
    @contextmanager
    def side() -> Iterator[Side]:
        with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as other:
            opened.append(other)
            yield Side(other.events, memory)  # type: ignore[arg-type]

    config = load_config(None).config
    return Workbench(
        config,
        shared.events,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        [],
        WEEK,
        FIXED_NOW,
        _run_id(),
        memory=memory,  # type: ignore[arg-type]
        side=side,
    )


def test_a_memory_write_that_fails_on_the_side_connection_fails_the_run_and_is_recorded(
    shared: Storage, url: str
) -> None:
    opened: list[Storage] = []
    bench = _bench(shared, url, FailingMemory(), opened)
    stage = RememberPitchesStage(bench, dry_run=False)
    assert stage.overlaps  # with a side connection it runs alongside the next stage
    pitches = ContextKey("pitches", list)
    context = PipelineContext(run_id=bench.run_id, week_id=WEEK).with_value(pitches, [_pitch()])
    with pytest.raises(StageError, match="could not write the memory"):
        asyncio.run(Pipeline([stage, Waits()], shared.events).run(context))
    failed = [StageFailed.from_event(e) for e in shared.events.read(run_id=bench.run_id, type="StageFailed")]
    assert [f.stage for f in failed] == ["remember_pitches"]
    assert opened and opened[0].conn is not shared.conn  # the write went to a connection of its own
    assert shared.events.read(type=SetupRemembered.event_type(), run_id=bench.run_id) == []


def test_without_a_side_connection_or_in_a_dry_run_the_memory_stages_run_in_turn(shared: Storage, url: str) -> None:
    bench = _bench(shared, url, FailingMemory(), [])
    assert RememberPitchesStage(bench, dry_run=True).overlaps is False
    plain = Workbench(
        bench.config,
        shared.events,
        None,
        None,
        None,
        [],
        WEEK,
        FIXED_NOW,
        "r",
        memory=None,  # type: ignore[arg-type]
    )
    assert RememberPitchesStage(plain, dry_run=False).overlaps is False


@pytest.mark.parametrize("failing", ["beside", "waits", None])
def test_without_stage_timings_overlapping_stages_store_only_their_failures(
    shared: Storage, failing: str | None
) -> None:
    # A backtest's store (stage_timings=False): joined, settled after a failure or ended cleanly, an overlapping
    # stage and the one beside it leave only a StageFailed behind, and the observer hears every end.
    store = EventStore(shared.conn, FixedClock(FIXED_NOW), stage_timings=False)
    run_id, heard = _run_id(), []
    stages = [Beside(fail=failing == "beside"), Waits(fail=failing == "waits"), Reads()]
    pipeline = Pipeline(stages, store, lambda stage, state, _s: heard.append((stage, state)))
    if failing is None:
        asyncio.run(pipeline.run(PipelineContext(run_id=run_id)))
    else:
        with pytest.raises(StageError, match=f"stage '{failing}' failed"):
            asyncio.run(pipeline.run(PipelineContext(run_id=run_id)))
    assert _stages(shared, run_id) == ([] if failing is None else [("StageFailed", failing)])
    assert (failing or "beside", "failed" if failing else "completed") in heard
