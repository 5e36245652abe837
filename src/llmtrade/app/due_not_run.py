"""A job run-due listed due and did not begin, its session closed by then, on record (DueJobNotRun): said on the
wake-up's output only, it left nothing in the books of why the next wake-up found the checkpoint missed or the week
not run."""

from __future__ import annotations

from datetime import date

from llmtrade.app.container import Container
from llmtrade.domain.checkpoints import DueJobNotRun
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import DUE_NOT_RUN, week_stream
from llmtrade.storage.bootstrap import Storage


def record_not_run(app: Container, week_id: date, not_run: DueJobNotRun, storage: Storage | None = None) -> None:
    """`not_run` on record in the week's stream of jobs not begun, on `storage` when the caller holds it open."""
    event = NewEvent.of(not_run, stream=week_stream(week_id, DUE_NOT_RUN), week_id=week_id)
    if storage is not None:
        storage.events.append([event])
        return
    with app.storage() as opened:
        opened.events.append([event])
