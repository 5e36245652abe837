"""A job's completion marker, recorded in the same append as its run's end (app/runs.py `RunLog.finished`).

`run-due` counts a job done by its marker (WeekCompleted, CheckpointCompleted, PostmortemCompleted). Appended apart,
a stop landing between the marker and the run's end (SIGTERM from cron's `timeout`, Ctrl-C, kill -9) recorded the run
failed or killed for good: its job was done, so no rerun ever came, and `status`, the metrics, the report's runs "no
rerun finished" and the silence alert said it had failed until the job's next run, a week for the weekly run (a new
user's trial). So the stage that finishes a job hands its marker on (`COMPLETION`) and the job records it with the
run's end: both or neither. A run stopped before then leaves the job undone, and the next wake-up runs it again
(its stages find their outputs stored).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from llmtrade.domain.events import NewEvent
from llmtrade.pipeline.context import ContextKey, PipelineContext


class Completion(BaseModel):
    """The marker's events (none: a dry run, or the job found done already) and the versions their streams must be
    at (ConcurrencyError otherwise: another run recorded the job done first)."""

    model_config = ConfigDict(frozen=True)

    events: tuple[NewEvent, ...] = ()
    expected_versions: dict[str, int] = {}


COMPLETION = ContextKey("completion", Completion)
NONE = Completion()


def completion_of(context: PipelineContext) -> Completion:
    """What the job's last stage handed on to be recorded with the run's end (NONE when no stage ran that far)."""
    return context.get(COMPLETION) if context.has(COMPLETION) else NONE
