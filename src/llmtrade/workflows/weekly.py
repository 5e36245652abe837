"""Assembling and guarding `run-weekly`: the per-week lock, the accounts' brokers, the stages."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from llmtrade.brokers.registry import open_broker
from llmtrade.clock import Clock
from llmtrade.config.models import Config, ScheduleConfig
from llmtrade.council.committee import Committee
from llmtrade.domain import streams
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.runs import RunFailed, RunStarted, WeekCompleted
from llmtrade.domain.streams import week_stream
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import OperationalError, SessionOver, TemporaryError, UsageError
from llmtrade.llm.gateway import LLMMode
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.market.quote_provider import QuoteSource
from llmtrade.market.service import MarketData
from llmtrade.pipeline.context import PipelineContext
from llmtrade.pipeline.pipeline import Pipeline, StageObserver
from llmtrade.pipeline.stage import Stage
from llmtrade.settings import Settings
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.committee_stages import ChairmanStage, PitchStage, ReviewStage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution_stage import ExecutionStage
from llmtrade.workflows.memory_stages import (
    RecallAheadStage,
    RecallStage,
    RememberDecisionStage,
    RememberPitchesStage,
    RememberResearchStage,
    ValidatorStage,
)
from llmtrade.workflows.research_stages import ASOF, MarketSnapshotStage, ResearchStage
from llmtrade.workflows.schedule import JobKind, week_jobs
from llmtrade.workflows.trading_stages import RiskPrepStage, RiskStage
from llmtrade.workflows.workbench import Workbench

if TYPE_CHECKING:
    import psycopg

# Advisory-lock keys: a fixed namespace in the high bits, the week's day number in the low bits.
_LOCK_NAMESPACE = 0x4C54_5700_0000_0000


def week_mode(events: EventStore, week_id: date) -> str | None:
    """The mode of the week's first run that did not fail before storing anything of its own (None for an untouched
    week). A run that failed with only its run record, model calls and price fetches stored (a first live start with
    no network, failing at the market snapshot) mixes nothing into the week, so it fixes no mode: it had fixed the
    week as live, and every offline run after the keys were removed was refused for the rest of the week (found by
    the new-user trial)."""
    runs = events.read(week_id=week_id, type=[RunStarted.event_type(), RunFailed.event_type()])
    first = next(deciding_starts(events, runs), None)
    return first.payload["mode"] if first is not None else None


def deciding_starts(events: EventStore, runs: Sequence[StoredEvent]) -> Iterator[StoredEvent]:
    """The RunStarted among `runs` (run events, in order) of the runs that may have decided something: all but those
    that failed with nothing stored beyond their run record, model calls and price fetches. Lazy: a failed run's
    events are read only when it is reached."""
    failed = {e.run_id for e in runs if e.type == RunFailed.event_type()}
    for start in (e for e in runs if e.type == RunStarted.event_type()):
        if start.run_id not in failed or _stored_output(events, start.run_id):
            yield start


def _stored_output(events: EventStore, run_id: str | None) -> bool:
    return any(not e.stream.startswith(_NO_OUTPUT) for e in events.read(run_id=run_id)) if run_id else True


_NO_OUTPUT = ("run:", "llm:", "market")


def require_same_mode(events: EventStore, week_id: date, mode: LLMMode, why: str | None = None) -> None:
    """A week is offline or live from its first run to its last: never a mix of the two. `why`: why the run is in
    `mode` (the mode decision's reason: "no key set: ..."), for the message."""
    started = week_mode(events, week_id)
    if started is None:
        return
    was_offline, is_offline = started == LLMMode.OFFLINE.value, mode is LLMMode.OFFLINE
    if was_offline == is_offline:
        return
    if is_offline:
        # The user whose key lapsed mid-week was told of "synthetic and real" (on a CSV folder both are real) and of
        # "offline trials", and not what finishes the week: every wake-up after exited 1 with the week's checkpoints,
        # its postmortem and the next week's run undone.
        raise OperationalError(
            f"week {week_id} was started in live mode; an offline run cannot continue it"
            + (f" (offline now: {why})" if why else "")
            + ": its checkpoints and postmortem would be the rules provider's answers on the positions its models "
            "opened. Run it live again to finish it (the model key set, no --offline): its jobs, and the next "
            "week's, wait until then. Offline trials belong in a separate database (LLMTRADE_HOME or DATABASE_URL)"
        )
    raise OperationalError(
        f"week {week_id} was started in {started} mode; a {mode.value} run cannot continue it "
        "(its research, decisions and orders would mix the rules provider's with the models'). Use a separate "
        "database (LLMTRADE_HOME or DATABASE_URL) for offline trials"
    )


def require_current_week(week_id: date, now: datetime, *, command: str) -> None:
    """Orders are only ever placed for the week that is running now."""
    current = week_id_for(new_york_date(now))
    if week_id != current:
        raise UsageError(
            f"{command} trades only the current week ({current}); week {week_id} is not it. "
            "Use --dry-run to look at another week without trading"
        )


def require_sessions_left(
    schedule: ScheduleConfig,
    calendar: TradingCalendar,
    events: EventStore,
    week_id: date,
    now: datetime,
    *,
    again: bool,
) -> None:
    """UsageError (exit 2) once the last session of `week_id` has closed: an order sent now could only fill at the next
    week's open, after that week's own run. run-due gives such a week up (workflows/schedule.py `_superseded`, said as
    WeekNotRun); `run-weekly` by hand on a Tuesday evening ran it anyway (a cron trial), queuing last week's committee
    for Wednesday's open after its postmortem had closed the week with none of it, to be closed again by the roll.
    Asked of books that have run a week, or when the week's run goes `again` (orders refused or held back): the quick
    start's first run (any day, a Tuesday evening too) begins its books and is let through."""
    sessions = calendar.sessions_between(week_id, week_id + timedelta(days=6))
    if sessions and now < calendar.session_close(sessions[-1]):
        return
    if not again and not events.week_ids(WeekCompleted.event_type()):
        return
    ended = (
        f"its last session closed at {calendar.session_close(sessions[-1]):%a %Y-%m-%d %H:%M} New York"
        if sessions
        else "it has no trading session"
    )
    following = next(
        (j for j in week_jobs(schedule, calendar, week_id + timedelta(days=7)) if j.kind is JobKind.WEEKLY), None
    )
    raise SessionOver(
        f"week {week_id} can no longer trade: {ended}, so its orders could only fill in the next week, after that "
        "week's own run. It is not run late (run-due leaves it undone and records it as WeekNotRun)"
        + (f"; the next weekly run is due {following.at:%a %Y-%m-%d %H:%M} New York" if following else "")
        + ". Use --dry-run to look at it without trading"
    )


def require_begun(week_id: date, now: datetime, *, what: str) -> None:
    """`week_id` is this week or an earlier one: a later week's would be made from today's prices under its name (a
    look at a week that has not happened, or, once recorded, frozen for its own run to trade on)."""
    current = week_id_for(new_york_date(now))
    if week_id > current:
        raise UsageError(
            f"week {week_id} has not begun (this is the week of {current}): {what}; ask for it once that week has begun"
        )


def completion(events: EventStore, week_id: date) -> StoredEvent | None:
    found = events.read(stream=week_stream(week_id, streams.DONE), type=WeekCompleted.event_type(), limit=1)
    return found[0] if found else None


@contextmanager
def week_lock(
    conn: psycopg.Connection, week_id: date, command: str = "run-weekly", rerun: str | None = None
) -> Iterator[None]:
    """Hold the week's advisory lock for the duration; a second run of the same week stops at once, naming the
    command that holds it (the holder's connection is named after its command while it holds the lock) and the one
    to run again (`rerun`: the invocation's, e.g. run-due running a checkpoint; default `command`)."""
    key = _LOCK_NAMESPACE + week_id.toordinal()
    before = conn.execute("SELECT current_setting('application_name')").fetchone()
    previous = before[0] if before else ""
    # Named before the lock is tried: a second run finding it held reads the holder's command from that name, which,
    # set just after the lock was taken, was not there yet for a moment ("another run" for a positions settle).
    conn.execute("SELECT set_config('application_name', %s, false)", (f"{_HOLDER}{command}",))
    try:
        taken = _try_lock(conn, key)
        holder = None if taken else _holder(conn, key)
        if holder is None and not taken:  # the holder ended between the try and the look: the lock is free now
            taken = _try_lock(conn, key)
        if not taken:
            # Temporary (exit 75): once the other run ends, trying again finishes the job or finds it done.
            raise TemporaryError(
                f"another {holder or 'run'} for week {week_id} is running (advisory lock {key:#x} is held); "
                f"let it finish, then run {rerun or command} again: completed stages are not repeated"
            )
    except BaseException:
        conn.execute("SELECT set_config('application_name', %s, false)", (previous,))
        raise
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))  # first: the lock matters, the name is only a label
        conn.execute("SELECT set_config('application_name', %s, false)", (previous,))


def _try_lock(conn: psycopg.Connection, key: int) -> bool:
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    return bool(row and row[0])


_HOLDER = "llmtrade "  # the prefix of a lock holder's application_name; the rest is its command


def _holder(conn: psycopg.Connection, key: int) -> str | None:
    """The command holding the week's lock, as its connection is named (`week_lock`); "run" when it cannot be told
    (a holder from before this naming, or a role not allowed to see the other session's name); None when nothing holds
    it any more."""
    row = conn.execute(
        """SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
           WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
             AND l.classid::bigint = %s AND l.objid::bigint = %s""",
        (key >> 32, key & 0xFFFF_FFFF),
    ).fetchone()
    if row is None:
        return None
    name = row[0] or ""
    return name.removeprefix(_HOLDER) if name.startswith(_HOLDER) else "run"


def build_desks(
    config: Config,
    settings: Settings,
    events: EventStore,
    clock: Clock,
    calendar: TradingCalendar,
    market: MarketData,
    *,
    live: bool,
    quotes: QuoteSource | None = None,
) -> list[Desk]:
    """One broker per account, chosen by the broker registry (an offline run always gets paper);
    `quotes` prices paper orders taken in session."""
    return [
        Desk(
            account,
            open_broker(
                account,
                live=live,
                settings=settings,
                config=config,
                events=events,
                clock=clock,
                calendar=calendar,
                prices=market,
                quotes=quotes,
                market=market,
            ),
        )
        for account in config.accounts.accounts
    ]


def require_real_prices(desks: Sequence[Desk], market: MarketData) -> None:
    """An account at a broker (Alpaca) is never traded on the synthetic market: the risk gate would size its orders
    off made-up prices (SPY at a synthetic ~300 bought as if half its real ~600 price, twice the shares the gate's
    limits allow) and the broker would fill them at real ones. A live run may price on the synthetic market alone
    when asked (LLMTRADE_MARKET_PROVIDERS=synthetic, or books kept on it: app/week_mode.py); its paper accounts only."""
    at_broker = [d.account.id for d in desks if d.broker.name != "paper"]
    if at_broker and market.providers and all(p.synthetic for p in market.providers):
        raise UsageError(
            f"{', '.join(at_broker)} {'trades' if len(at_broker) == 1 else 'trade'} at a broker ("
            f"{', '.join(sorted({d.broker.name for d in desks if d.account.id in at_broker}))}), and the market set "
            "is the synthetic one: its orders would be sized off made-up prices and filled at real ones. Give real "
            "prices (the market data keys, or a CSV folder), or unset the account's broker keys to keep it on paper"
        )


class WeeklyPipeline(Pipeline):
    """The weekly stages, their commits on the run's connection deferred (EventStore.defer_flush) until the risk
    gate: about forty commits (stage events, call records, the frozen outputs) lie between the snapshot and the
    decision, each an fsync of several ms on the path between two model round trips when waited for. What a
    crash of the database server or machine could take back is the run's latest records (a suffix: as if this
    process had died a moment earlier, which a rerun resumes from); the risk gate waits again, so the frozen plan
    and everything before it are on disk before any order is sent (execution then defers its own records: see
    execution_stage.ExecutionStage), and the run's end is waited for whatever happened."""

    def __init__(self, stages: Sequence[Stage], events: EventStore, observer: StageObserver | None, **kw: Any):
        super().__init__(stages, events, observer, **kw)
        self._store = events

    async def run(self, context: PipelineContext) -> PipelineContext:
        self._store.defer_flush(True)
        try:
            return await super().run(context)
        finally:
            # Whatever happened (a failure, a stage left unfinished), the run's end is recorded durably.
            self._store.defer_flush(False)


def weekly_pipeline(
    bench: Workbench, clock: Clock, *, dry_run: bool, observer: StageObserver | None = None
) -> Pipeline:
    config, events, week_id, desks = bench.config, bench.events, bench.week_id, bench.desks
    committee = Committee(
        bench.gateway,
        bench.prompts,
        config.models.pms,
        config.models.chairman,
        config.assets.universe,
        week_id,
        bench.run_id,
    )
    return WeeklyPipeline(
        [
            MarketSnapshotStage(bench.market, config.assets.symbols, events),
            # What recall shows besides the setups, read alongside the research's round trip.
            RecallAheadStage(bench, dry_run=dry_run),
            ResearchStage(
                bench.gateway, bench.prompts, config.models.research, config.assets.universe, events, bench.window
            ),
            # Recall before remembering the research: recall is on the path to the pitches, and the memory write
            # (alongside) would compete with it for the interpreter; started after it, it hides behind the pitches.
            RecallStage(bench, dry_run=dry_run),
            RememberResearchStage(bench, dry_run=dry_run),
            PitchStage(committee, events, clock, bench.window),
            RememberPitchesStage(bench, dry_run=dry_run),
            # The validator judges the pitches, not the reviews: placed before the review it runs alongside the
            # reviews' round trip (when it overlaps) instead of between the reviews and the chairman.
            ValidatorStage(bench, dry_run=dry_run),
            ReviewStage(committee, events, clock, bench.window),
            # Every account but the chairman's is sized alongside the chairman's round trip; nothing is sent before
            # the risk gate, after the decision.
            RiskPrepStage(
                desks,
                config,
                events,
                week_id,
                dry_run=dry_run,
                overlaps=bench.side is not None and not dry_run,
                market=bench.market,
            ),
            ChairmanStage(committee, events, clock, bench.window),
            RememberDecisionStage(bench, dry_run=dry_run),
            RiskStage(desks, config, events, week_id, dry_run=dry_run, market=bench.market, now=bench.now),
            ExecutionStage(desks, events, week_id, config, dry_run=dry_run),
        ],
        events,
        observer,
        inputs=(ASOF,),
    )
