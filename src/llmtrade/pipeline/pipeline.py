"""Pipeline: run stages in order, record each one's start, end and failure as events."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from llmtrade.domain.events import EventPayload, EventSink, NewEvent, StageCompleted, StageFailed, StageStarted
from llmtrade.domain.streams import run_stream
from llmtrade.errors import StageError
from llmtrade.pipeline.context import PipelineContext
from llmtrade.pipeline.stage import Stage

# Told of each stage as it starts ("started", None) and ends ("completed" or "failed", seconds).
StageObserver = Callable[[str, str, float | None], None]


class Pipeline:
    def __init__(self, stages: Sequence[Stage], events: EventSink, observer: StageObserver | None = None):
        names = [stage.name for stage in stages]
        if len(set(names)) != len(names):
            raise ValueError(f"stage names must be unique, got {names}")
        self.stages = list(stages)
        self._events = events
        self._observer = observer or (lambda stage, state, seconds: None)

    async def run(self, context: PipelineContext) -> PipelineContext:
        for stage in self.stages:
            self._record(context, StageStarted(stage=stage.name))
            self._observer(stage.name, "started", None)
            started = time.perf_counter()
            try:
                result = await stage.run(context)
                if not isinstance(result, PipelineContext):
                    raise TypeError(f"returned {type(result).__name__}, not a PipelineContext")
            except Exception as exc:
                elapsed = (time.perf_counter() - started) * 1000
                self._record(
                    context,
                    StageFailed(stage=stage.name, duration_ms=elapsed, error_type=type(exc).__name__, error=str(exc)),
                )
                self._observer(stage.name, "failed", elapsed / 1000)
                raise StageError(stage.name, exc) from exc
            elapsed = (time.perf_counter() - started) * 1000
            self._record(context, StageCompleted(stage=stage.name, duration_ms=elapsed))
            self._observer(stage.name, "completed", elapsed / 1000)
            context = result
        return context

    def _record(self, context: PipelineContext, payload: EventPayload) -> None:
        self._events.append(
            [NewEvent.of(payload, stream=run_stream(context.run_id), week_id=context.week_id, run_id=context.run_id)]
        )
