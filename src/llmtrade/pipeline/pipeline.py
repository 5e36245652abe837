"""Pipeline: check the stages' wiring, run them in order, record each one's start, end and failure.

A stage's start and end (StageStarted, StageCompleted) are recorded unless its event sink says
`stage_timings = False` (a backtest's store: storage/event_store.py); its failure (StageFailed) always is,
and the observer hears every start and end either way.

The wiring is checked before anything runs: when the pipeline is built (against the `inputs` the
caller promises) and when `run` is called, that the initial context holds those inputs; a pipeline
built without `inputs` is checked then against the keys the initial context really holds (a context
holding more keys than the inputs checked can only satisfy more reads, so it needs no second check).
See pipeline/stage.py for the contract a stage keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from llmtrade.domain.events import EventPayload, EventSink, NewEvent, StageCompleted, StageFailed, StageStarted
from llmtrade.domain.records import assembled
from llmtrade.domain.streams import run_stream
from llmtrade.domain.tracing import bound
from llmtrade.errors import PipelineWiringError, StageError, Waiting
from llmtrade.pipeline.context import ContextKey, PipelineContext, StageReport
from llmtrade.pipeline.stage import Stage

# Told of each stage as it starts ("started", None) and ends ("completed", "loaded" or "failed", seconds).
StageObserver = Callable[[str, str, float | None], None]
# The state a stage that stopped to wait (errors.Waiting) ends in, for the observer.
WAITED = "stopped to wait"


class Pipeline:
    def __init__(
        self,
        stages: Sequence[Stage],
        events: EventSink,
        observer: StageObserver | None = None,
        *,
        inputs: Iterable[ContextKey[Any]] | None = None,
    ):
        """`inputs`: the keys the caller's initial context will hold. Given, the wiring is checked now;
        either way it is checked against the actual context when `run` is called."""
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        self.stages = list(stages)
        for stage in self.stages:
            _require_declarations(stage)
        self.inputs = tuple(inputs) if inputs is not None else None
        if self.inputs is not None:
            _check_wiring_once(self.stages, self.inputs)
        self._events = events
        self._timings = events.stage_timings
        self._observer = observer or (lambda stage, state, seconds: None)

    async def run(self, context: PipelineContext) -> PipelineContext:
        """Run every stage; the result holds their outputs, `loaded` (stages that found their output
        stored) and `reports` (one StageReport per stage: name, ran|loaded, seconds)."""
        if self.inputs is not None:
            missing = [key.name for key in self.inputs if not context.has(key)]
            if missing:
                readers = [s.name for s in self.stages if set(missing) & {k.name for k in s.reads}]
                raise PipelineWiringError(
                    f"the initial context lacks declared input(s) {', '.join(missing)} "
                    f"(it holds {', '.join(sorted(context.keys())) or 'nothing'}); nothing was run",
                    stage=readers[0] if readers else self.stages[0].name,
                    key=missing[0],
                )
        else:
            check_wiring(self.stages, set(context.keys()), "the initial context")
        # A stage's StageCompleted goes in one transaction with the next one's StageStarted: nothing
        # happens between the two, and a commit less per stage is a commit less on the critical path.
        completed: list[EventPayload] = []
        alongside: list[_Alongside] = []  # overlapping stages started and not yet joined, oldest first
        try:
            for stage in self.stages:
                # Overlapping stages already done are joined now; one whose writes this stage reads is waited for.
                if alongside:
                    wanted = {key.name for key in stage.reads}
                    last = max((i for i, a in enumerate(alongside) if a.task.done() or wanted & a.writes), default=-1)
                    for _ in range(last + 1):
                        context = await self._join(alongside.pop(0), context, completed)
                if self._timings:
                    self._record(context, *completed, _started(stage.name))
                completed = []
                self._observer(stage.name, "started", None)
                started = time.perf_counter()
                # The stage is shown only what it declared it reads, so an undeclared read fails at once.
                visible = context.only(stage.reads)
                if stage.overlaps:
                    before = alongside[-1].task if alongside else None
                    wanted = asyncio.Event()
                    task = asyncio.ensure_future(_after(before, stage, visible, started, wanted))
                    alongside.append(_Alongside(stage, visible, task, {key.name for key in stage.writes}, wanted))
                    # Let it start: one that finds its output stored ends at once, and is joined in its place.
                    await asyncio.sleep(0)
                    continue
                try:
                    result = await _checked_run(stage, visible)
                except Exception as exc:
                    elapsed = (time.perf_counter() - started) * 1000
                    self._fail(context, stage, exc, elapsed, completed)
                    completed = []
                    raise StageError(stage.name, exc) from exc
                elapsed = (time.perf_counter() - started) * 1000
                loaded = stage.name in result.loaded and stage.name not in context.loaded
                completed = [_completed(stage.name, elapsed, loaded)] if self._timings else []
                self._observer(stage.name, "loaded" if loaded else "completed", elapsed / 1000)
                report = _report(stage.name, loaded, elapsed / 1000)
                context = context.merged(result, stage.writes, report)
            while alongside:
                context = await self._join(alongside.pop(0), context, completed)
        finally:
            # Whatever failed, no overlapping stage is left running: each ends, and its end is recorded.
            if alongside:
                await self._settle(alongside, context, completed)
        self._record(context, *completed)
        return context

    async def _join(self, done: _Alongside, context: PipelineContext, completed: list[EventPayload]) -> PipelineContext:
        """Wait for an overlapping stage and merge what it wrote; its failure fails the run here."""
        stage = done.stage
        done.wanted.set()
        result, elapsed, error = await asyncio.shield(done.task)
        if error is not None:
            self._fail(context, stage, error, elapsed, completed)
            completed.clear()
            raise StageError(stage.name, error) from error
        loaded = stage.name in result.loaded and stage.name not in done.visible.loaded
        if self._timings:
            completed.append(_completed(stage.name, elapsed, loaded))
        self._observer(stage.name, "loaded" if loaded else "completed", elapsed / 1000)
        report = _report(stage.name, loaded, elapsed / 1000)
        written = {key.name: result.values[key.name] for key in stage.writes}
        merged = context.model_copy(update={"values": MappingProxyType({**context.values, **written})})
        return (merged.with_loaded(stage.name) if loaded else merged).with_report(report)

    async def _settle(
        self, alongside: list[_Alongside], context: PipelineContext, completed: list[EventPayload]
    ) -> None:
        """After a failure: wait for every overlapping stage still running and record how each ended."""
        for left in alongside:
            left.wanted.set()
            result, elapsed, error = await asyncio.shield(left.task)
            if error is None:
                if self._timings:
                    loaded = left.stage.name in result.loaded and left.stage.name not in left.visible.loaded
                    completed.append(_completed(left.stage.name, elapsed, loaded))
            else:
                completed.append(_failed(left.stage, error, elapsed))
        alongside.clear()
        self._record(context, *completed)
        completed.clear()

    def _fail(
        self, context: PipelineContext, stage: Stage, exc: Exception, elapsed: float, completed: list[EventPayload]
    ) -> None:
        self._record(context, *completed, _failed(stage, exc, elapsed))
        # A stage that stopped to wait (its StageDeferred recorded, exit 75) did not fail: the progress said "failed".
        self._observer(stage.name, WAITED if isinstance(exc, Waiting) else "failed", elapsed / 1000)

    def _record(self, context: PipelineContext, *payloads: EventPayload) -> None:
        if not payloads:
            return  # nothing ended since the last record (stage timings not kept)
        stream = run_stream(context.run_id)
        self._events.append(
            [NewEvent.of(p, stream=stream, week_id=context.week_id, run_id=context.run_id) for p in payloads]
        )


# Set in an overlapping stage's task: the pipeline sets the event when it waits for the stage's result.
_WANTED: contextvars.ContextVar[asyncio.Event | None] = contextvars.ContextVar("llmtrade_stage_wanted", default=None)


async def hold_back(seconds: float) -> None:
    """Let an overlapping stage wait up to `seconds` before its own work, ending at once when the pipeline waits
    for its result (nothing left to overlap: an offline run's stages after it end in milliseconds) or when it is
    not an overlapping stage's task."""
    wanted = _WANTED.get()
    if wanted is None or wanted.is_set():
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wanted.wait(), seconds)


@dataclass
class _Alongside:
    """An overlapping stage started by the pipeline: what it was shown, its task, the keys it writes."""

    stage: Stage
    visible: PipelineContext
    task: asyncio.Future[tuple[PipelineContext, float, Exception | None]]
    writes: set[str]
    wanted: asyncio.Event


async def _after(
    before: asyncio.Future[Any] | None, stage: Stage, visible: PipelineContext, started: float, wanted: asyncio.Event
) -> tuple[PipelineContext, float, Exception | None]:
    """Run an overlapping stage once the one started before it has ended (they never run at once); returns
    (its result, its milliseconds, its failure or None). Its time counts from its own start, not its wait.
    `wanted` is set when the pipeline waits for it (`hold_back` ends then)."""
    _WANTED.set(wanted)  # this task's own context (ensure_future copied it): no other task sees it
    if before is not None:
        await asyncio.wait([before])
        started = time.perf_counter()
    try:
        result = await _checked_run(stage, visible)
    except Exception as exc:
        return visible, (time.perf_counter() - started) * 1000, exc
    return result, (time.perf_counter() - started) * 1000, None


async def _checked_run(stage: Stage, visible: PipelineContext) -> PipelineContext:
    """The stage run on what it may see, its log lines tagged with its name; raises when it returned anything
    but a context holding exactly the keys it declared it writes."""
    with bound(stage=stage.name):
        result = await stage.run(visible)
    if not isinstance(result, PipelineContext):
        raise TypeError(f"returned {type(result).__name__}, not a PipelineContext")
    _require_outputs(stage, visible, result)
    return result


# Stage name -> its StageStarted: a frozen payload, the same every run (a few dozen stage names; a bound all the same).
_STARTED: dict[str, StageStarted] = {}


def _started(name: str) -> StageStarted:
    payload = _STARTED.get(name)
    if payload is None:
        payload = StageStarted(stage=name)
        if len(_STARTED) < 1024:
            _STARTED[name] = payload
    return payload


_COMPLETED_FIELDS = frozenset(StageCompleted.model_fields)


def _completed(name: str, elapsed: float, loaded: bool) -> StageCompleted:
    """StageCompleted(stage=name, duration_ms=elapsed, loaded=loaded), not validated: a stage's name is a str,
    `elapsed` a float from perf_counter, `loaded` a bool (some ten of these per job, every job)."""
    return assembled(StageCompleted, {"stage": name, "duration_ms": elapsed, "loaded": loaded}, set(_COMPLETED_FIELDS))


_REPORT_FIELDS = frozenset(StageReport.model_fields)


def _report(name: str, loaded: bool, seconds: float) -> StageReport:
    """StageReport(name=name, outcome="loaded" if loaded else "ran", seconds=seconds), not validated when the name is
    a str and `seconds` a float (from perf_counter): five of these per checkpoint, every checkpoint."""
    outcome = "loaded" if loaded else "ran"
    if type(name) is str and type(seconds) is float:
        return assembled(StageReport, {"name": name, "outcome": outcome, "seconds": seconds}, set(_REPORT_FIELDS))
    return StageReport(name=name, outcome=outcome, seconds=seconds)


def _failed(stage: Stage, exc: Exception, elapsed: float) -> StageFailed:
    return StageFailed(stage=stage.name, duration_ms=elapsed, error_type=type(exc).__name__, error=str(exc))


def check_wiring(stages: Sequence[Stage], provided: set[str], source: str) -> None:
    """Raise PipelineWiringError for the first stage reading a key not provided before it."""
    available = set(provided)
    for index, stage in enumerate(stages):
        for key in stage.reads:
            if key.name in available:
                continue
            later = [s.name for s in stages[index + 1 :] if key.name in {k.name for k in s.writes}]
            hint = (
                f"stage(s) {', '.join(later)} write it, but only after"
                if later
                else "no stage of this pipeline writes it"
            )
            raise PipelineWiringError(
                f"stage {stage.name!r} reads {key.name!r}, which is neither in {source} nor written by an "
                f"earlier stage ({hint}; add it to the pipeline's inputs or put its writer first)",
                stage=stage.name,
                key=key.name,
            )
        available |= {key.name for key in stage.writes}


# Wirings found sound: (each stage's name, reads and writes; the inputs) -> True. A pipeline is built per job
# (10,000 checkpoints a backtest) from the same few stage layouts; the keys' tuples are the stages' own
# (class attributes, held here so no id is reused), compared by identity and then by value.
_WIRED: dict[tuple[Any, ...], bool] = {}
# id of a reads/writes tuple found to hold ContextKeys only -> the tuple (held, so its id is not reused).
_DECLARED: dict[int, tuple[Any, ...]] = {}


def _check_wiring_once(stages: Sequence[Stage], inputs: tuple[ContextKey[Any], ...]) -> None:
    """`check_wiring` against `inputs`, once per layout: a layout found sound stays sound (its keys are the
    same objects, their names fixed), a faulty one raises every time."""
    layout = (tuple((s.name, s.reads, s.writes) for s in stages), inputs)
    if layout in _WIRED:
        return
    check_wiring(stages, {key.name for key in inputs}, "pipeline inputs")
    if len(_WIRED) < 1024:  # a few dozen layouts; a bound all the same
        _WIRED[layout] = True


def _require_declarations(stage: Stage) -> None:
    if not isinstance(getattr(stage, "overlaps", None), bool):
        raise PipelineWiringError(
            f"stage {stage.name!r} must declare `overlaps` as True or False (see pipeline/stage.py)",
            stage=stage.name,
            key="overlaps",
        )
    reads, writes = getattr(stage, "reads", None), getattr(stage, "writes", None)
    if (
        reads is not None
        and writes is not None
        and _DECLARED.get(id(reads)) is reads
        and _DECLARED.get(id(writes)) is writes
    ):
        return  # both tuples checked before (a stage class's own, shared by every instance)
    for attribute in ("reads", "writes"):
        declared = getattr(stage, attribute, None)
        if not isinstance(declared, tuple) or not all(isinstance(k, ContextKey) for k in declared):
            raise PipelineWiringError(
                f"stage {stage.name!r} must declare `{attribute}` as a tuple of ContextKeys (see pipeline/stage.py)",
                stage=stage.name,
                key=attribute,
            )
        if len(_DECLARED) < 4096:
            _DECLARED[id(declared)] = declared


def _require_outputs(stage: Stage, before: PipelineContext, after: PipelineContext) -> None:
    """A stage's declarations stay true: it wrote what it declared and nothing else."""
    declared = {key.name for key in stage.writes}
    written = after.values.keys()
    if written >= declared and written - before.values.keys() <= declared:
        return  # the usual case, told without building the key sets the messages below need
    for name in sorted(declared - after.keys()):
        raise PipelineWiringError(
            f"stage {stage.name!r} declares {name!r} but did not write it", stage=stage.name, key=name
        )
    for name in sorted(after.keys() - before.keys() - declared):
        raise PipelineWiringError(
            f"stage {stage.name!r} wrote {name!r} without declaring it in `writes`", stage=stage.name, key=name
        )
