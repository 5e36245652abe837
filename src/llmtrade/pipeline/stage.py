"""What a stage is: the source of truth for every Stage in llmtrade.

A stage is one step of a Pipeline. It has:

- `name: str` -- unique within its pipeline; it names the stage's StageStarted/StageCompleted/
  StageFailed events on the run stream and its line in progress output.
- `reads: tuple[ContextKey, ...]` -- every context key the stage reads with `context.get`. Each must
  be provided by the caller (the pipeline's `inputs`, present in the initial context) or written by
  an earlier stage; the Pipeline checks this when it is built and again before its first stage runs,
  so a wiring mistake stops the run before any model is called or any order is sent.
  The stage is shown only these keys: reading any other raises MissingContextKey.
- `writes: tuple[ContextKey, ...]` -- every context key the stage sets. The returned context must
  hold each of them, and no key the stage did not declare (the Pipeline checks after the stage).
- `overlaps: bool` -- False for most stages (the Pipeline waits for the stage before starting the next);
  see below for True.
- `async run(context) -> context` -- do the work (fanning out inside if it likes) and return a NEW
  context (PipelineContext is frozen) holding the stage's outputs.

A stage with `overlaps = True` is started and the Pipeline goes straight on to the next stage instead of
waiting, so its work (a memory write, say) happens while a later stage waits for a model. A later stage
that reads one of its writes waits for it first; overlapping stages run one after another, never at once;
the Pipeline waits for every one before it returns or raises, and records each one's end (its
StageCompleted or StageFailed) when it joins it, so no work is left behind unrecorded. An overlapping
stage must not hold up the event loop: blocking work goes to a thread, on a connection of its own (see
workflows/memory_writer.py). Its failure fails the run where it is joined.

A stage whose output is written once (a week stream, a checkpoint stream) and that found it already
stored returns `context.with_loaded(self.name)`: the Pipeline then reports the stage as loaded
rather than ran (StageCompleted.loaded, `PipelineContext.loaded`, `PipelineContext.reports`), so a
resumed run can say which stages it skipped without re-reading the streams.

Stages hold their collaborators (gateway, events, brokers) from construction; the context carries
only values that flow between stages.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from llmtrade.pipeline.context import ContextKey, PipelineContext


@runtime_checkable
class Stage(Protocol):
    name: str
    reads: tuple[ContextKey[Any], ...]
    writes: tuple[ContextKey[Any], ...]
    overlaps: bool

    async def run(self, context: PipelineContext) -> PipelineContext:
        """Do this stage's work and return a new context holding its outputs."""
        ...
