"""A postmortem's outcomes and lessons are known when the postmortem makes them, not when its run began.

On the machine's clock a postmortem reads its `now`, then asks a model for each account's reflection, minutes each; the
lessons were stamped known at the run's start (bench.now), before the reflections they are made of were answered. A
chosen clock (LLMTRADE_NOW, a backtest's step) keeps the run's instant, to the microsecond."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from llmtrade.config.loader import load_config
from llmtrade.domain.checkpoints import Postmortem, PostmortemAnswer
from llmtrade.market.calendar import NEW_YORK
from llmtrade.pipeline.context import PipelineContext
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.postmortem_memory import RememberOutcomesStage
from llmtrade.workflows.postmortem_stages import POSTMORTEMS
from llmtrade.workflows.workbench import Workbench
from tests.fakes.running_clock import RunningClock

WEEK = date(2026, 1, 7)
STARTED = datetime.combine(date(2026, 1, 13), time(16, 30), tzinfo=NEW_YORK)


class ChosenRunningClock(RunningClock):
    real = False


class Remembered:
    """The memory, as the stage hands it what it remembers."""

    def __init__(self) -> None:
        self.items: list[object] = []

    def remember(self, items: Sequence[object], *, week_id: date, run_id: str) -> None:
        self.items.extend(items)


def _postmortem() -> Postmortem:
    answer = PostmortemAnswer(what_the_thesis_got_right="rates", what_it_got_wrong="timing", lessons=["wait a day"])
    return Postmortem(
        week_id=WEEK,
        account_id="acct_1",
        instrument="SPY",
        direction="LONG",
        start_equity=100_000,
        end_equity=99_000,
        realized_pnl=0,
        unrealized_pnl=-1000,
        week_pnl=-1000,
        week_return=-0.01,
        instrument_return=-0.02,
        indicators=[],
        reflection=answer,
    )


def _remembered(storage: Storage, clock: RunningClock) -> tuple[datetime, list[object]]:
    memory = Remembered()
    started = clock.now()
    bench = Workbench(
        load_config(None).config,
        storage.events,
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        [],
        WEEK,
        started,
        "run-pm",
        memory=memory,  # type: ignore[arg-type]
        clock=clock,
    )
    clock.advance(timedelta(minutes=12))  # each account's reflection, asked of a model
    context = PipelineContext(run_id="run-pm", week_id=WEEK).with_value(POSTMORTEMS, [_postmortem()])
    asyncio.run(RememberOutcomesStage(bench).run(context))
    return started, memory.items


def test_a_live_postmortems_lessons_are_known_when_made_not_at_its_start(storage: Storage) -> None:
    clock = RunningClock(STARTED)
    started, items = _remembered(storage, clock)
    [lesson] = [item.lesson for item in items if hasattr(item, "lesson")]  # type: ignore[attr-defined]
    assert lesson.text == "wait a day"
    assert lesson.known_at >= started + timedelta(minutes=12), (lesson.known_at, started)
    assert lesson.known_at <= clock.now()


def test_a_chosen_clocks_lessons_are_known_at_the_runs_instant(storage: Storage) -> None:
    clock = ChosenRunningClock(STARTED)
    started, items = _remembered(storage, clock)
    [lesson] = [item.lesson for item in items if hasattr(item, "lesson")]  # type: ignore[attr-defined]
    assert lesson.known_at == started
