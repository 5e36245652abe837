"""A Stage: a name and an async `run(context) -> context`. Stages may fan out inside themselves."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from llmtrade.pipeline.context import PipelineContext


@runtime_checkable
class Stage(Protocol):
    name: str

    async def run(self, context: PipelineContext) -> PipelineContext:
        """Do this stage's work and return a new context holding its outputs."""
        ...
