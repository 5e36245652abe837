"""One place builds a run: the invocation's mode, gateway, prompts, calendar, market and desks.

Every command and `run-due` go through a Container made once per invocation from the command's
flags. The mode is decided here, once (`decision`); everything a job needs is built from that
decision, so no job can price with one mode and trade with another. Storage is opened per job,
either persisting or as a draft view (`persist=False`) whose appends never reach the database:
read-only commands and dry runs run the same code without writing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import cached_property, partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from llmtrade.agents.schemas import warm_up as schemas_warm_up
from llmtrade.app.paid_calls import keep_paid_calls
from llmtrade.app.session import Session, open_session, prompts_dir
from llmtrade.brokers.registry import unset_keys_problems
from llmtrade.clock import Clock, Timer
from llmtrade.config.loader import LoadedConfig, file_label
from llmtrade.config.models import Config, ModelsConfig
from llmtrade.config_errors import ConfigError
from llmtrade.discovery.universe import week_config
from llmtrade.domain.runs import RunStarted, new_run_id
from llmtrade.domain.tracing import log_warning
from llmtrade.llm.gateway import LLMMode
from llmtrade.llm.providers import ModeDecision, decide_mode
from llmtrade.llm.tls import warm_up as http_warm_up
from llmtrade.market.alpaca_http import within_deadline
from llmtrade.market.alpaca_limits import BY_HAND_SECONDS, WaitAllowance
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.provider import BarProvider
from llmtrade.market.providers import build_providers, provider_names
from llmtrade.market.quote_checks import recorded_quotes
from llmtrade.market.quote_provider import QuoteProvider
from llmtrade.market.quote_providers import quote_providers, quote_service
from llmtrade.market.quotes import QuoteService, Sightings
from llmtrade.market.series import flagged_before, untraded_before
from llmtrade.market.service import MarketData, Recording
from llmtrade.market.splits import splits_before, traded
from llmtrade.memory.protocol import Memory
from llmtrade.prompts.renderer import PromptRenderer
from llmtrade.settings import Settings
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.database import locate, sibling
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.weekly import build_desks, require_real_prices, week_lock
from llmtrade.workflows.workbench import Side, SideOpener, Workbench

if TYPE_CHECKING:
    import psycopg


@dataclass
class Container:
    # Whether an in-session price is looked at for a bad print (market/quote_checks.py): a feed's answer is.
    checks_prints: ClassVar[bool] = True
    # Whether a week's jobs are held to the mode and kind of prices it began with (app/week_mode.py): a backtest's are.
    pins_weeks: ClassVar[bool] = True
    # Whether accounts.yaml may change between a week's runs (an account taken out mid-week, its books still holding):
    # a backtest's configuration is one for its whole range, so its postmortems need not read every fill to find one.
    config_changes: ClassVar[bool] = True
    settings: Settings
    loaded: LoadedConfig
    clock: Clock
    config_dir: Path | None
    say: Callable[[str], None]
    offline: bool = False
    replay: bool = False
    # With `replay`: a cache miss asks the live model, at most this many USD over the database's calls.
    live_misses_usd: float | None = None
    # A database of its own on the same server (a backtest's books), instead of the live one.
    database: str | None = None
    # Where `warning` goes (what needs a look, said with --quiet too); unset: `say`.
    warn: Callable[[str], None] | None = None
    # The command the user ran (run-due runs the jobs of others): what an error tells them to run again.
    invoked_as: str | None = None
    # Run by hand (`status`, `market ...`): its reads wait out rate limits BY_HAND_SECONDS in all (`allowance`), not
    # each read its own 90 s; a job's reads are bounded by the job's deadline instead.
    by_hand: bool = False
    _announced: str | None = field(default=None, init=False)  # how the banner was given: said, warned
    _warned: set[str] = field(default_factory=set, repr=False)  # `warning_once`'s, shared by a copy (`replace`)
    # The calls asked anew under --live-misses this invocation (llm/invalid_cached.py): each once, by any run of it.
    _asked_anew: set[str] = field(default_factory=set, init=False, repr=False)
    # Side connections opened for the job's memory stages (Container.side); closed with the job's storage.
    _sides: list[Storage] = field(default_factory=list, init=False, repr=False)
    # The models config a job's memory writes with (`writing_models`), and the loaded one it was made from.
    _writing: tuple[ModelsConfig, ModelsConfig] | None = field(default=None, init=False, repr=False)

    # ------------------------------------------------------------ decided once per invocation

    @cached_property
    def decision(self) -> ModeDecision:
        """The invocation's mode: the only call of decide_mode in the application."""
        return decide_mode(
            self.loaded.config.models,
            self.settings,
            offline=self.offline,
            replay=self.replay,
            live_misses_usd=self.live_misses_usd,
        )

    @cached_property
    def allowance(self) -> WaitAllowance | None:
        """What this invocation's reads may wait out in all (market/alpaca_limits.py), when run by hand."""
        return WaitAllowance(BY_HAND_SECONDS) if self.by_hand else None

    @property
    def mode(self) -> LLMMode:
        return self.decision.mode

    @property
    def live(self) -> bool:
        """Live market data and brokers: any mode but offline (a replay prices like the run it replays)."""
        return self.decision.mode is not LLMMode.OFFLINE

    @cached_property
    def calendar(self) -> TradingCalendar:
        return TradingCalendar()

    @cached_property
    def prompts(self) -> PromptRenderer:
        renderer = PromptRenderer(prompts_dir(self.settings, self.config_dir))
        for note in renderer.drift:  # once per command, not per render (a backtest renders thousands) nor per copy
            self.warning_once(note)
        renderer.warm_up()
        return renderer

    def warning(self, text: str) -> None:
        """What needs a look (a degraded run, a failure the job went on without), unlike `say`'s progress: a cron
        user with --quiet still gets it; kept in the log file too (domain/tracing.py `log_warning`)."""
        (self.warn or self.say)(text)
        log_warning(text)

    def warning_once(self, text: str) -> None:
        """`warning`, the same text once per invocation (a job reads the same symbols several times, run-due many)."""
        if text not in self._warned:
            self._warned.add(text)
            self.warning(text)

    def announce(self, *, needs_a_look: bool = False) -> None:
        """The mode banner, on stderr, once per invocation (however many jobs run-due runs); a `warning` (said under
        --quiet too) when it `needs_a_look`."""
        # Said (not warned) by an earlier job of the invocation (last week's postmortem first): warned now all the same.
        if self._announced is None or (needs_a_look and self._announced == "said"):
            self._announced = "warned" if needs_a_look else "said"
            (self.warning if needs_a_look else self.say)(self.decision.banner)

    # ------------------------------------------------------------ built per job

    @contextmanager
    def storage(self, *, persist: bool = True, models: bool = False) -> Iterator[Storage]:
        """The database; with persist=False a draft view whose appends stay in this process.

        `models=True` for a job that will ask models: their prompt templates, and in live mode the
        HTTP clients' TLS set-up, get ready on background threads while the database starts, instead
        of in front of the first model call.
        """
        if models:
            self.warm_up()
        location = sibling(locate(self.settings), self.database) if self.database else None
        with open_storage(self.settings, self.clock, location=location) as storage:
            draft = None if persist else storage.events.draft()
            try:
                yield storage if draft is None else replace(storage, events=draft)
            finally:
                try:
                    if draft is not None:  # a dry run's live calls were paid for: their records stay
                        keep_paid_calls(draft, storage.events, self.loaded.config.models.prices)
                finally:
                    while self._sides:
                        self._sides.pop().close()

    def memory(self, storage: Storage, *, run_id: str | None = None) -> Memory | None:
        """The committee's memory over `storage` (embedding calls recorded under `run_id`), or None when
        models.yaml switches it off; which embedder it uses: app/memory_build.py."""
        from llmtrade.app.memory_build import build_memory  # lazy: only a job that uses the memory pays for it

        return build_memory(self.loaded.config.models, storage, self.settings, self.mode, run_id=run_id)

    def unsearched_setups(self, storage: Storage) -> str | None:
        """The weekly run's warning for setups another embedding model made (app/memory_notes.py), or None."""
        from llmtrade.app.memory_notes import unsearched_note  # lazy, as the memory is

        return unsearched_note(self.loaded.config.models, self.mode, storage.conn)

    def warm_up(self) -> None:
        _ = self.prompts  # built once; building starts compiling its templates
        if self.decision.mode is LLMMode.LIVE:
            http_warm_up()
            schemas_warm_up([i.symbol for i in self.loaded.config.assets.universe])

    def session(self, storage: Storage) -> Session:
        self.announce()
        return open_session(
            self.settings,
            self.loaded,
            self.clock,
            storage,
            decision=self.decision,
            prompts=self.prompts,
            timer=self.timer(),
            warn=self.warning,
            asked_anew=self._asked_anew,
        )

    def timer(self) -> Timer:
        """What runs and model calls are timed on: the wall (a backtest: its stepped clock)."""
        return time.perf_counter

    def market(
        self,
        storage: Storage,
        *,
        live: bool | None = None,
        run_id: str | None = None,
        week_id: date | None = None,
        record: bool = True,
        deadline: datetime | None = None,
    ) -> MarketData:
        """Prices in the invocation's mode (or `live` as given); `record=False` records no fetch events; `deadline`:
        the job's, past which no rate limit is waited out (market/alpaca_limits.py), nor past `allowance` in all."""
        use_live = self.live if live is None else live
        assets = self.loaded.config.assets
        names = provider_names(assets, self.settings, live=use_live)
        providers = within_deadline(self.bar_providers(names), deadline, self.clock, self.allowance)
        events = storage.events
        recording = Recording(
            events,
            run_id,
            week_id,
            # A jump in the prices is a warning: said with --quiet too (the gate sizes nothing off a suspect last bar).
            say=self.warning,
            flagged_before=partial(flagged_before, events),
            splits_before=partial(splits_before, events),
            traded=partial(traded, events),
            quotes_before=partial(recorded_quotes, events),
            untraded_before=partial(untraded_before, events),
        )
        market = MarketData(providers, self.bar_cache(storage), self.calendar, recording if record else None)
        market.mixed = self.warning_once
        return market

    def bar_providers(self, names: list[str]) -> list[BarProvider]:
        """The daily-bar providers named, in order, built afresh (a backtest keeps them: app/backtest_container.py)."""
        assets_file = file_label(self.loaded.source, "assets.yaml")
        return build_providers(self.loaded.config.assets, self.settings, names, assets_file=assets_file)

    def quote_providers(self, names: list[str]) -> list[QuoteProvider]:
        """The quote providers named, in order, built afresh (a backtest keeps them, as `bar_providers`)."""
        return quote_providers(self.loaded.config.assets, self.settings, names, self.calendar)

    def bar_cache(self, storage: Storage) -> BarCache:
        """The bar cache a market built for `storage` reads (a backtest keeps one in memory for its run)."""
        return BarCache(storage.conn)

    def quotes(
        self,
        storage: Storage,
        market: MarketData,
        *,
        live: bool | None = None,
        sightings: Sightings | None = None,
        deadline: datetime | None = None,
    ) -> QuoteService:
        """Prices now (intraday), from the same providers in the same order as `market`'s daily bars;
        fetches and refusals are recorded where `market` records (its run and week); `sightings`: where a `market`
        that records nothing reads the day's other prints and keeps a bad one (market/quotes.py); `deadline` as
        `market`'s."""
        use_live = self.live if live is None else live
        assets = self.loaded.config.assets
        names = provider_names(assets, self.settings, live=use_live)
        providers = within_deadline(self.quote_providers(names), deadline, self.clock, self.allowance)
        recording, checks = market.recording, self.checks_prints
        return quote_service(assets, providers, market, self.clock, recording, check_prints=checks, sightings=sightings)

    def desks(
        self,
        storage: Storage,
        market: MarketData,
        *,
        live: bool | None = None,
        config: Config | None = None,
        quotes: QuoteService | None = None,
    ) -> list[Desk]:
        """`config`: the week's (its universe decides what a paper account may short); default the loaded one.
        `quotes`: the job's quote service over `market` (`quotes`), when the caller has built it already."""
        use_live = self.live if live is None else live
        if use_live and (unset := unset_keys_problems(self.loaded.config.accounts, self.settings)):
            raise ConfigError(file_label(self.loaded.source, "accounts.yaml"), unset)
        quotes = quotes if quotes is not None else self.quotes(storage, market, live=use_live)
        return build_desks(
            config or self.loaded.config,
            self.settings,
            storage.events,
            self.clock,
            self.calendar,
            market,
            live=use_live,
            quotes=quotes,
        )

    def side(self, storage: Storage, models: ModelsConfig, *, run_id: str) -> SideOpener | None:
        """Opens the memory over a connection of its own to `storage`'s database, for the memory stages' work
        off the event loop (workflows/memory_stages.py); a backtest's sole writer has none."""
        from llmtrade.app.memory_build import build_memory  # lazy, as in `memory`

        held: list[Side] = []
        lock = threading.Lock()

        @contextmanager
        def opened() -> Iterator[Side]:
            # Opened once, by the first stage that needs it (on its worker thread), and kept for the job:
            # a connection costs the server a process, and its memory's caches stay warm.
            with lock:
                if not held:
                    other = open_storage(self.settings, self.clock, location=storage.location)
                    self._sides.append(other)
                    held.append(
                        Side(other.events, build_memory(models, other, self.settings, self.mode, run_id=run_id))
                    )
                yield held[0]

        return opened

    def workbench(
        self, storage: Storage, session: Session, *, week_id: date, now: datetime, deadline: datetime | None = None
    ) -> Workbench:
        """Prices and accounts for one run of a week's job, in the invocation's mode; `deadline`: until when
        its stages retry temporary model failures (workflows/job_deadlines.py `retry_deadline`)."""
        run_id = new_run_id(now)
        market = self.market(storage, run_id=run_id, week_id=week_id, deadline=deadline)
        # The week's universe (issue 15): the static list, or the watchlist fixed once for the week.
        config = self.offered(week_config(self.loaded.config, storage.events, week_id, run_id), week_id)
        quotes = self.quotes(storage, market, deadline=deadline)
        desks = self.desks(storage, market, config=config, quotes=quotes)  # one quote service for the job
        require_real_prices(desks, market)
        return Workbench(
            config,
            storage.events,
            session.gateway,
            session.prompts,
            market,
            desks,
            week_id,
            now,
            run_id,
            deadline,
            quotes,
            self.job_memory(storage, run_id=run_id),
            self.side(storage, self.writing_models(), run_id=run_id),
            self.clock,
        )

    def offered(self, config: Config, week_id: date) -> Config:
        """`config` with the universe the committee is offered in `week_id`: live, all of it (a backtest leaves out
        what had no price yet, app/backtest_container.py)."""
        return config

    def writing_models(self) -> ModelsConfig:
        """The models config with its memory switched on: a job remembers with memory off too, so switching it on
        later finds the weeks run meanwhile; only recall, the prompts' memory and the validator follow
        `memory.enabled` (workflows/memory_stages.py). Made once per loaded config, not per job."""
        models = self.loaded.config.models
        if self._writing is None or self._writing[0] is not models:
            writing = models.model_copy(update={"memory": models.memory.model_copy(update={"enabled": True})})
            self._writing = (models, writing)
        return self._writing[1]

    def job_memory(self, storage: Storage, *, run_id: str) -> Memory | None:
        """The memory a job's workbench remembers in and recalls from (`writing_models`), over `storage`."""
        from llmtrade.app.memory_build import build_memory  # lazy, as in `memory`

        return build_memory(self.writing_models(), storage, self.settings, self.mode, run_id=run_id)

    def week_lock(self, conn: psycopg.Connection, week_id: date, command: str = "run-weekly") -> AbstractContextManager:
        """The week's advisory lock around a job (workflows/weekly.py `week_lock`): a second run of the week
        stops at once (TemporaryError), telling to run again the command the user ran."""
        return week_lock(conn, week_id, command, rerun=self.invoked_as)

    def trading_is_live(self, events: EventStore) -> bool:
        """How accounts here are traded: what the latest trading run did, else this invocation's mode.

        Read-only commands must value accounts the way they were traded; valuing a live week with the
        offline market would settle paper orders at synthetic prices."""
        if self.offline:
            return False
        latest = [
            e for e in events.read(type=RunStarted.event_type()) if e.payload["command"] in ("run-weekly", "checkpoint")
        ]
        if latest:
            return latest[-1].payload["mode"] != LLMMode.OFFLINE.value
        return self.live
