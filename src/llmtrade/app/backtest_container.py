"""The one Container a backtest runs every job in: its own database, one connection, paper books only.

A backtest calls the jobs cron calls (app/jobs.py) with this container, so the stages, the risk gate and
the paper broker are live's; what differs is only what a replay of history must change:
- the database is the backtest's own (`llmtrade_bt_<name>`), opened once and held for the whole backtest
  (every job's `storage()` hands out the same connection; a draft view over it for dry runs), by one
  process at a time (an advisory lock), so its event store is `exclusive`: heads and copies are kept
  current from its own appends instead of asked for (storage/event_store.py), and its pipelines store no
  StageStarted/StageCompleted (`stage_timings=False`: a stage's wall-clock duration under a stepped clock is
  noise, and they were over a quarter of the events; a failed stage's StageFailed is stored);
- every account trades on the paper broker and prices come from the offline providers (the CSV folder,
  else the synthetic market), whatever accounts.yaml and the mode say: a backtest never touches a
  live account or asks a live feed while its weeks run, even in `--replay` mode (`--fetch-history` asks
  once, before the first week: app/backtest_history.py);
- the accounts' broker round trips, which live overlaps on threads, run one after another on the job's own thread
  (app/backtest_threads.py `one_thread_at_a_time`), so the books' events come in the same order on every run;
- while `cutoff` is set (the look-ahead audit) the market it builds cannot see any bar after that day, nor of
  `opened` (the session open at a checkpoint audited) anything but its open, and its quote providers no price after
  the clock's now (app/backtest_market.py);
- every job's coroutine runs on one event loop held with the database (app/job_loop.py), not a loop per job.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, ClassVar

from llmtrade.app.backtest_lock import take
from llmtrade.app.backtest_market import CutoffMarket, CutoffProvider
from llmtrade.app.backtest_memory import CachedMemory, RecallCache
from llmtrade.app.container import Container
from llmtrade.app.job_loop import JobLoop
from llmtrade.app.session import Session
from llmtrade.clock import Timer
from llmtrade.config.models import BENCHMARK, Config, ModelsConfig
from llmtrade.errors import TemporaryError
from llmtrade.market.csv_quotes import CsvQuotes
from llmtrade.market.provider import BarProvider
from llmtrade.market.quote_provider import QuoteProvider
from llmtrade.market.service import MarketData
from llmtrade.memory.held_setups import HeldSetups
from llmtrade.memory.history import ConditionHistory
from llmtrade.memory.projection import StoredIds
from llmtrade.memory.protocol import Memory
from llmtrade.storage import bulk_load
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.connection import connect
from llmtrade.storage.database import locate, sibling
from llmtrade.storage.draft_events import DraftEventStore
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.held_bar_cache import HeldBarCache
from llmtrade.workflows.weeks import resolve_week
from llmtrade.workflows.workbench import SideOpener

if TYPE_CHECKING:
    import psycopg


@dataclass
class BacktestContainer(Container):
    # A backtest's prices are the files (or the synthetic market) it replays, not a feed's answer: their daily bars are
    # looked at for jumps at its start (said, recorded, repeated by the leaderboard), and a price refused here could
    # never come right ("run the same command again" would stop at it again).
    checks_prints: ClassVar[bool] = False
    pins_weeks: ClassVar[bool] = False  # every job of a backtest is offline on its one provider
    config_changes: ClassVar[bool] = False  # one configuration for the whole range (app/backtest_config.py)
    # The look-ahead audit's cut: while set, markets built here hold no bar after this session day, and of `opened`
    # (the session open at the instant audited: a checkpoint's) its open alone.
    cutoff: date | None = None
    opened: date | None = None
    _held: Storage | None = field(default=None, init=False)
    _bar_cache: HeldBarCache | None = field(default=None, init=False)
    # The one event loop of the jobs run while `held` (app/job_loop.py).
    _loop: JobLoop | None = field(default=None, init=False)
    # Whether the held database goes without what storage/bulk_load.py defers (its memory's graph) until `index_books`.
    _deferred: bool = field(default=False, init=False)
    # The draft view handed to the last dry run, so the audit can read what that run recorded.
    last_draft: DraftEventStore | None = field(default=None, init=False)
    # The memory's answers per visible set (app/backtest_memory.py), kept across the backtest's jobs.
    _recall: RecallCache = field(default_factory=RecallCache, init=False)
    # The memory's conditions held for every job's memory (memory/history.py), kept across the backtest's jobs.
    _conditions: ConditionHistory = field(default_factory=ConditionHistory, init=False)
    # The memory ids stored (memory/projection.py), known to every job's memory: the backtest is its only writer.
    _stored_ids: StoredIds = field(default_factory=StoredIds, init=False)
    # The setups and lessons stored (memory/held_setups.py), held for every job's memory: its similar-setups reads
    # are answered in the process, not by a scan over every visible vector (issue 13).
    _held_setups: HeldSetups = field(default_factory=HeldSetups, init=False)
    # The offline providers by names, built once: they hold no job's state (no run, clock or as-of time; what a
    # job may see is cut by its MarketData, QuoteService and CutoffMarket, which are built per job over them).
    _bar_providers: dict[tuple[str, ...], list[BarProvider]] = field(default_factory=dict, init=False)
    _quote_providers: dict[tuple[str, ...], list[QuoteProvider]] = field(default_factory=dict, init=False)
    # The universe symbols whose prices begin after the first week's as-of session, with their first bar's day
    # (set by the prefetch): a week before that day does not offer them (`offered`).
    listed_later: dict[str, date] = field(default_factory=dict, init=False)
    # The universe symbols whose prices end before the range does, with their last bar's day (set by the prefetch,
    # app/backtest_delisting.py): valid through it, offered while a later session can fill an order, then settled.
    delisted: dict[str, date] = field(default_factory=dict, init=False)

    @property
    def live(self) -> bool:
        """Never: offline market providers and the paper broker for every account, in any mode."""
        return False

    def offered(self, config: Config, week_id: date) -> Config:
        """`config` without the symbols whose prices begin after the week's as-of session (an ETF launched during
        the range): no PM may pitch, and no snapshot price, what had not traded yet. Decided from the as-of alone,
        so the look-ahead audit's cut-off run leaves out the same ones; the benchmark is never left out."""
        if not self.listed_later and not self.delisted:
            return config
        _, asof = resolve_week(self.clock.now(), week_id, self.loaded.config.schedule)
        session = self.calendar.last_completed_session(asof)
        later = {s for s, first in self.listed_later.items() if session is None or first > session}
        # Its last session closed by the as-of (an order the week places would fill at a session it never had) or by now
        # (a checkpoint after it: no price of it now, and its positions were closed: app/backtest_delisting.py).
        now = self.clock.now()
        later |= {
            s
            for s, last in self.delisted.items()
            if (session is not None and last <= session) or self.calendar.session_close(last) <= now
        }
        later -= {BENCHMARK}
        if not later:
            return config
        universe = [i for i in config.assets.universe if i.symbol not in later]
        return config.model_copy(update={"assets": config.assets.model_copy(update={"universe": universe})})

    def trading_is_live(self, events: EventStore) -> bool:
        return False

    @contextmanager
    def held(self) -> Iterator[Storage]:
        """Open the backtest's database for the container's life; every job's `storage()` reuses it."""
        if self.database is None:
            raise ValueError("a backtest container needs its database")
        from llmtrade.app.memory_build import warm_embedder  # lazy, as Container.memory

        # Loaded while PostgreSQL creates and migrates the database (~0.3 s of CPU), not in the first week's recall.
        warm_embedder(self.loaded.config.models, self.mode)
        location = sibling(locate(self.settings), self.database)
        opened = open_storage(self.settings, self.clock, location=location)
        if not take(opened.conn):  # app/backtest_lock.py: the leaderboard tries it too, to say the backtest runs
            opened.close()
            # Temporary (exit 75), as another run of the same week is (workflows/weekly.py `week_lock`): once the
            # other process ends, the same command resumes after its last finished week.
            raise TemporaryError(
                f"the backtest database {self.database} is in use by another process (a backtest of the same "
                "name still running?); wait for it to finish or stop it, then run this again"
            )
        try:
            # A fresh backtest's memory is bulk-loaded: its HNSW graph built when its weeks are done (`index_books`);
            # after a failure, by the next open of the database (storage/bootstrap.py).
            self._deferred = bulk_load.defer(opened.conn)
        except BaseException:
            opened.close()
            raise
        # The week's flush runs on a connection of the writer's own while the next week computes (app/backtest.py).
        events = EventStore(
            opened.conn, self.clock, exclusive=True, stage_timings=False, behind=lambda: _writing(location.url)
        )
        self._held = replace(opened, events=events)
        self._bar_cache = HeldBarCache(opened.conn)
        # Thousands of small appends a week, each its own commit: waiting for each to reach the disk is most
        # of the time. A crash may lose the last few commits, never part of one, and a backtest resumes from
        # what is there; the live books keep PostgreSQL's default.
        self._held.conn.execute("SET synchronous_commit TO off")
        self._loop = JobLoop()
        try:
            yield self._held
            self._held.events.flush()
            self.index_books()
        except BaseException:
            # What the jobs before the failure recorded is kept, as live keeps it; the failure is what is raised.
            with suppress(Exception):
                _keep(self._held, location.url)
            raise
        finally:
            loop, self._loop = self._loop, None
            try:
                loop.close()  # every job's tasks ended with its job (JobLoop.run): none is left to touch the books
            finally:
                # The flush in flight waited for; whatever a failed flush left behind was never written.
                self._held.events.close()
                self._held.close()
                self._held = None
                self._bar_cache = None

    @contextmanager
    def indexing_books(self) -> Iterator[None]:
        """The indexes a fresh backtest went without, each built on a connection of its own while the block runs (the
        backtest's leaderboard, which reads the books from memory), after flushing what is held; waited for on the way
        out, and any whose build failed built on the held connection then (`index_books`). The builds are PostgreSQL's
        work and the block is this process's: they overlap."""
        if self._held is None or not self._deferred:
            yield
            return
        self._held.events.flush()
        location = sibling(locate(self.settings), self.database or "")
        failed: list[BaseException] = []

        def build(name: str) -> None:
            try:
                with connect(location.url) as conn:
                    bulk_load.beside(conn, name)
            except BaseException as exc:  # the index is built on the held connection after the block
                failed.append(exc)

        builders = [
            threading.Thread(target=build, args=(name,), name=f"index-{name}", daemon=True)
            for name in bulk_load.missing(self._held.conn)
        ]
        for builder in builders:
            builder.start()
        try:
            yield
        finally:
            for builder in builders:
                builder.join()
            if not failed:
                self._deferred = False
        self.index_books()  # nothing left to build, unless a build beside failed

    def index_books(self) -> None:
        """Build the indexes a fresh backtest went without (storage/bulk_load.py), after flushing what is held: the
        backtest calls it when its weeks are done, before the leaderboard reads the books; `held` on the way out."""
        if self._held is None or not self._deferred:
            return
        self._held.events.flush()
        bulk_load.build(self._held.conn)
        self._deferred = False

    def timer(self) -> Timer:
        """The backtest's clock, in seconds: it stands still through a job (the stepped clock is set between jobs), so
        a run's duration and a model call's latency are 0 on it, where the wall's would differ from run to run and
        keep two runs of the same backtest from storing the same bytes (its own timing is BacktestResult.timing)."""
        clock = self.clock
        return lambda: clock.now().timestamp()

    def session(self, storage: Storage) -> Session:
        """Live's session, its job run on the backtest's one event loop while the database is held."""
        session = super().session(storage)
        if self._loop is not None:
            session.runner = self._loop.run  # the session is this job's own, made just now
        return session

    def side(self, storage: Storage, models: ModelsConfig, *, run_id: str) -> SideOpener | None:
        """None: the sole writer holds its appends in this process until it flushes, so a second connection
        would not see them (and the memory stages write in turn, on the held store)."""
        return None

    @contextmanager
    def storage(self, *, persist: bool = True, models: bool = False) -> Iterator[Storage]:
        if self._held is None:
            raise RuntimeError("BacktestContainer.storage() outside held()")
        if models:
            self.warm_up()
        if persist:
            yield self._held
            return
        draft = self._held.events.draft()
        self.last_draft = draft
        yield replace(self._held, events=draft)

    def job_memory(self, storage: Storage, *, run_id: str) -> Memory | None:
        """Live's memory with the backtest's one condition history; its reads answered once per visible set
        (app/backtest_memory.py) when its embedder records nothing (the packaged one: offline, or no embedding
        model configured)."""
        if self._held is None or storage.conn is not self._held.conn:
            return super().job_memory(storage, run_id=run_id)
        memory = self._built(self.writing_models(), storage, run_id=run_id)
        if memory is None:
            return None
        from llmtrade.app.memory_build import embeds_packaged  # lazy, as Container.memory

        packaged = embeds_packaged(self.loaded.config.models.memory, self.mode)
        return CachedMemory(memory, storage.conn, self._recall) if packaged else memory

    def unsearched_setups(self, storage: Storage) -> str | None:
        """None: a backtest's setups are all embedded under the one config its books record (a resume with another is
        refused, app/backtest_resume.py), so the query live runs every week would be a round trip per week for
        nothing."""
        return None

    def memory(self, storage: Storage, *, run_id: str | None = None) -> Memory | None:
        if self._held is None or storage.conn is not self._held.conn:
            return super().memory(storage, run_id=run_id)
        return self._built(self.loaded.config.models, storage, run_id=run_id)

    def _built(self, models: ModelsConfig, storage: Storage, *, run_id: str | None) -> Memory | None:
        """The memory live builds, holding the backtest's one condition history: each job's memory brings it up
        to date from the rows stored since instead of reading every week's condition again (issue 13)."""
        from llmtrade.app.memory_build import build_memory  # lazy, as Container.memory

        return build_memory(
            models,
            storage,
            self.settings,
            self.mode,
            run_id=run_id,
            history=self._conditions,
            stored_ids=self._stored_ids,
            held=self._held_setups,
        )

    def week_lock(self, conn: psycopg.Connection, week_id: date, command: str = "run-weekly") -> AbstractContextManager:
        """No lock of the week's: the backtest's whole database is held by this process (`held`: its advisory
        lock), so no other run of any of its weeks can start; the two statements a job would spend are saved."""
        if self._held is None or conn is not self._held.conn:
            return super().week_lock(conn, week_id, command)
        return nullcontext()

    def bar_cache(self, storage: Storage) -> BarCache:
        """One in-memory bar cache over the held connection for the whole backtest (storage/held_bar_cache.py)."""
        if self._bar_cache is None or self._held is None or storage.conn is not self._held.conn:
            return super().bar_cache(storage)
        return self._bar_cache

    def bar_providers(self, names: list[str]) -> list[BarProvider]:
        """Built on the first job and handed to every later one (a fresh list: a caller may wrap or reorder it)."""
        key = tuple(names)
        if key not in self._bar_providers:
            self._bar_providers[key] = super().bar_providers(names)
        return list(self._bar_providers[key])

    def quote_providers(self, names: list[str]) -> list[QuoteProvider]:
        """As `bar_providers`."""
        key = tuple(names)
        if key not in self._quote_providers:
            built = super().quote_providers(names)
            limit = timedelta(seconds=self.loaded.config.assets.market_data.quote_staleness_seconds)
            for provider in built:
                if isinstance(provider, CsvQuotes):  # the files are the whole record: a gap takes the open, no wait
                    provider.open_after = limit
            self._quote_providers[key] = built
        if self.cutoff is not None:  # the audit's run: each behind its wall (a provider without one: `quotes_cut`)
            return [self._cut(p) for p in self._quote_providers[key]]
        return list(self._quote_providers[key])

    def quotes_cut(self, names: list[str]) -> bool:
        """Whether every quote provider of `names` can be cut at an instant (`cut`), so a checkpoint inside a session
        can be audited: the synthetic market cannot (its intraday path is drawn through the session's own bar)."""
        return all(getattr(p, "cut", None) is not None for p in self.quote_providers(names))

    def _cut(self, provider: QuoteProvider) -> QuoteProvider:
        cut = getattr(provider, "cut", None)
        if cut is None or self.cutoff is None:
            return provider
        cutoff, opened = self.cutoff, self.opened
        return cut(lambda daily: CutoffProvider(daily, cutoff, opened), self.clock.now())

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
        market = super().market(storage, live=False, run_id=run_id, week_id=week_id, record=record, deadline=deadline)
        market.ends = self.delisted
        if self.cutoff is None:
            return market
        return CutoffMarket.over(market, storage.conn, self.cutoff, self.opened)


def _keep(held: Storage, url: str) -> None:
    """Flush what `held` holds; when its connection is left unusable, on a connection of its own instead.

    A stop (Ctrl-C, SIGTERM) landing between a statement psycopg sent and its answer leaves the connection busy
    ("another command is already in progress"): the flush there failed, and the stopped run's RunFailed and every
    event since the last flush were lost with it. The held connection is closed first, so that the server rolls back
    what it had begun (a flush's COPY cut short among it); the lock it held goes with it, the backtest ending."""
    try:
        held.events.flush()
    except Exception:
        from psycopg.pq import TransactionStatus  # lazy, as everywhere in the app's storage calls

        if held.conn.info.transaction_status is TransactionStatus.IDLE:
            raise  # usable: the failure is the flush's own (another writer, a full disk), not the connection's
        held.conn.close()
        with _writing(url) as conn:
            held.events.flush(conn)


def _writing(url: str) -> psycopg.Connection:
    """The sole writer's own connection: its commits, like the held connection's, do not wait for the disk."""
    conn = connect(url)
    conn.execute("SET synchronous_commit TO off")
    return conn
