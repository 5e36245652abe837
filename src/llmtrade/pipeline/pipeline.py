"""Pipeline: check the stages' wiring, run them in order, record each one's start, end and failure.

The wiring is checked twice, both times before anything runs: when the pipeline is built (against
the `inputs` the caller promises) and when `run` is called (against the keys the initial context
really holds). See pipeline/stage.py for the contract a stage keeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from llmtrade.domain.events import EventPayload, EventSink, NewEvent, StageCompleted, StageFailed, StageStarted
from llmtrade.domain.streams import run_stream
from llmtrade.domain.tracing import bound
from llmtrade.errors import PipelineWiringError, StageError
from llmtrade.pipeline.context import ContextKey, PipelineContext, StageReport
from llmtrade.pipeline.stage import Stage

# Told of each stage as it starts ("started", None) and ends ("completed", "loaded" or "failed", seconds).
StageObserver = Callable[[str, str, float | None], None]


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
            check_wiring(self.stages, {key.name for key in self.inputs}, "pipeline inputs")
        self._events = events
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
        check_wiring(self.stages, set(context.keys()), "the initial context")
        # A stage's StageCompleted goes in one transaction with the next one's StageStarted: nothing
        # happens between the two, and a commit less per stage is a commit less on the critical path.
        completed: list[EventPayload] = []
        for stage in self.stages:
            self._record(context, *completed, StageStarted(stage=stage.name))
            completed = []
            self._observer(stage.name, "started", None)
            started = time.perf_counter()
            # The stage is shown only what it declared it reads, so an undeclared read fails at once.
            visible = context.only(stage.reads)
            try:
                with bound(stage=stage.name):
                    result = await stage.run(visible)
                if not isinstance(result, PipelineContext):
                    raise TypeError(f"returned {type(result).__name__}, not a PipelineContext")
                _require_outputs(stage, visible, result)
            except Exception as exc:
                elapsed = (time.perf_counter() - started) * 1000
                self._record(
                    context,
                    StageFailed(stage=stage.name, duration_ms=elapsed, error_type=type(exc).__name__, error=str(exc)),
                )
                self._observer(stage.name, "failed", elapsed / 1000)
                raise StageError(stage.name, exc) from exc
            elapsed = (time.perf_counter() - started) * 1000
            loaded = stage.name in result.loaded and stage.name not in context.loaded
            completed = [StageCompleted(stage=stage.name, duration_ms=elapsed, loaded=loaded)]
            self._observer(stage.name, "loaded" if loaded else "completed", elapsed / 1000)
            report = StageReport(name=stage.name, outcome="loaded" if loaded else "ran", seconds=elapsed / 1000)
            context = context.merged(result, stage.writes).with_report(report)
        self._record(context, *completed)
        return context

    def _record(self, context: PipelineContext, *payloads: EventPayload) -> None:
        stream = run_stream(context.run_id)
        self._events.append(
            [NewEvent.of(p, stream=stream, week_id=context.week_id, run_id=context.run_id) for p in payloads]
        )


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


def _require_declarations(stage: Stage) -> None:
    for attribute in ("reads", "writes"):
        declared = getattr(stage, attribute, None)
        if not isinstance(declared, tuple) or not all(isinstance(k, ContextKey) for k in declared):
            raise PipelineWiringError(
                f"stage {stage.name!r} must declare `{attribute}` as a tuple of ContextKeys (see pipeline/stage.py)",
                stage=stage.name,
                key=attribute,
            )


def _require_outputs(stage: Stage, before: PipelineContext, after: PipelineContext) -> None:
    """A stage's declarations stay true: it wrote what it declared and nothing else."""
    declared = {key.name for key in stage.writes}
    for name in sorted(declared - after.keys()):
        raise PipelineWiringError(
            f"stage {stage.name!r} declares {name!r} but did not write it", stage=stage.name, key=name
        )
    for name in sorted(after.keys() - before.keys() - declared):
        raise PipelineWiringError(
            f"stage {stage.name!r} wrote {name!r} without declaring it in `writes`", stage=stage.name, key=name
        )
