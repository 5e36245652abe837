"""What a job of the week works with, gathered once: config, events, models, prompts, prices, accounts."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime

from llmtrade.clock import Clock
from llmtrade.config.models import Config
from llmtrade.llm.gateway import LLMGateway
from llmtrade.market.calendar import new_york_date
from llmtrade.market.quote_provider import QuoteSource
from llmtrade.market.service import MarketData
from llmtrade.memory.protocol import Memory
from llmtrade.pipeline.retry import Window
from llmtrade.prompts.renderer import PromptRenderer
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.desk import Desk


@dataclass(frozen=True)
class Side:
    """A store and the memory over it on a database connection of their own, for work done on a worker
    thread while the run goes on (workflows/memory_stages.py): one connection is never used by two
    threads' transactions at once."""

    events: EventStore
    memory: Memory | None


# Opens a Side (a new connection) and closes it on exit.
SideOpener = Callable[[], AbstractContextManager[Side]]


@dataclass(frozen=True)
class Workbench:
    config: Config
    events: EventStore
    gateway: LLMGateway
    prompts: PromptRenderer
    market: MarketData
    desks: list[Desk]
    week_id: date
    now: datetime
    run_id: str
    # Until when this job's stages retry model calls that failed for a temporary reason (None: on every
    # rerun); see pipeline/retry.py and workflows/job_deadlines.py `retry_deadline`.
    deadline: datetime | None = None
    # Prices now (the quote service): a checkpoint's prices; None falls back to the daily bars.
    quotes: QuoteSource | None = None
    # The committee's memory (None: none is kept); whether prompts show it is `config.models.memory.enabled`
    # (workflows/memory_stages.py).
    memory: Memory | None = None
    # Opens the memory on a connection of its own, so the memory stages write off the event loop while the
    # next model call is out (None: they write on `events` in turn, as a dry run or a backtest's sole writer must).
    side: SideOpener | None = None
    # The command's clock, which `window` reads on the machine's real time (pipeline/retry.py Window); None: `now`.
    clock: Clock | None = None

    def made_now(self) -> datetime:
        """When what the run makes at this point is stamped: on the machine's real clock the clock read now, never
        before `now` (the run's start: a live run reaches its lessons or a halted account's shadow trade minutes after
        it, past its models' answers, and they were stamped before the reflections and judgements they came from); on a
        clock somebody chose (LLMTRADE_NOW, a backtest's step) `now` itself, to the microsecond."""
        clock = self.clock
        return max(self.now, clock.now()) if clock is not None and clock.real else self.now

    def made_in_session(self) -> datetime:
        """`made_now`, kept within the session the run began in (a checkpoint's prices are that session's): a judgement
        answered a moment past the close made nothing after it."""
        made, calendar = self.made_now(), self.market.calendar
        return min(made, calendar.session_close(new_york_date(self.now))) if calendar.is_open(self.now) else made

    @property
    def window(self) -> Window:
        return Window(self.deadline, self.now, self.clock)
