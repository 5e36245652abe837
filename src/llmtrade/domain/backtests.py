"""A backtest's own record: what it replays, each week it finished, how it ended, and its look-ahead audit.

These live on the `backtest` stream (streams.BACKTEST) of the backtest's own database, beside the books
the replayed jobs write. A rerun of the same name reads them to refuse different inputs and to resume
after the last finished week.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, timedelta
from typing import Any, ClassVar, TypeVar

from pydantic import Field

from llmtrade.domain.events import EventPayload, StoredEvent
from llmtrade.domain.market import (
    SPIKE,
    DelistingSettled,
    PriceJumpFlagged,
    PricesBeginLate,
    PricesEndEarly,
    jump_named,
)
from llmtrade.domain.wording import counted, named_first


class BacktestStarted(EventPayload):
    """An invocation of `llmtrade backtest`. The first one that gets as far as a job fixes the inputs (one that
    stopped before, on bad prices say, binds nothing); a later one with the same inputs resumes
    (`resumed_after`: the last week already finished, None on a fresh start)."""

    name: str
    start: date  # first week (a Wednesday)
    end: date  # last week (a Wednesday)
    mode: str  # offline | replay
    config_hash: str  # sha256 of the loaded config
    data: str  # where prices come from, e.g. "csv:/data/etf"
    data_hash: str  # sha256 of the price files (or the synthetic seed)
    version: str
    resumed_after: date | None = None
    # A CSV folder's intraday files (intraday/SYMBOL.csv), which data_hash does not cover: each file's digest per New
    # York day of the range's (market/csv_quotes.py `intraday_days`), so a resume can name a day changed inside the
    # weeks already run and let files that only grew after them go on. None: not recorded (a start before it was).
    intraday: dict[str, dict[date, str]] | None = None
    # The intraday files this start could not read (a bad row, no permission), left out of `intraday`: no job read
    # them after it (any quote of one stops), so mended, a resume compares them with the last start that read them.
    # Left out of the record when there are none.
    intraday_unread: list[str] = Field(default_factory=list, exclude_if=lambda names: not names)
    # The prices this start read afresh, no job of the books having read them, and with them what the starts before it
    # recorded of them (their jumps, late listings, delistings: `standing`): all of them (date.min) when no earlier
    # start ran a job (one stopped at its start, with other inputs), else the bars after this day, the last any job
    # read (a run killed with bars cached ahead of its jobs, a file mended there). Left out of the record when None.
    replaced_after: date | None = Field(default=None, exclude_if=lambda day: day is None)


class BacktestConfigRecorded(EventPayload):
    """The loaded config a backtest ran with (`config`: `Config.model_dump_json()`, whose sha256 is `config_hash`, as
    BacktestStarted's), recorded with the first start that ran with it. `leaderboard`, `report` and `discover` read
    the books with it when no --config is given: a user need not keep the folder (a sweep's runs never had one). Kept
    as the JSON text, not an object: jsonb reorders an object's keys, and the hash is of the text in the model's order
    (a dict of prices by model is in the order the file gave)."""

    config_hash: str
    config: str


class BacktestStopped(EventPayload):
    """An invocation that recorded its start (BacktestStarted) and then ended on an error, at its start (its prices, a
    file missing) or in a job: `exit_code` 75 for a temporary failure the same command later goes past, 1 or 2 for one
    it meets again until what `error` (its message's first line) names is fixed. What a leaderboard of its books tells
    the reader to do (`again`)."""

    error: str
    exit_code: int


class BacktestWeekDone(EventPayload):
    """Every scheduled job of `week_id` (weekly run, checkpoints, postmortem) ran; a resume starts after it."""

    schema_version: ClassVar[int] = 2

    week_id: date
    jobs: int

    @staticmethod
    def upcast_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
        # Schema 1 stored `llm_calls`, the answers this invocation asked for in the week: a week a killed backtest
        # resumed counted only those after the resume, and nothing read it. The week's calls are its
        # LLMCallCompleted events (and `trace` of each run), which every invocation stores.
        return {key: value for key, value in payload.items() if key != "llm_calls"}


class BacktestFinished(EventPayload):
    """Every week of the range is done."""

    name: str
    weeks: int


class LookaheadAuditPassed(EventPayload):
    """The week's weekly run, replayed as a dry run that could not see any bar after its as-of time, asked
    the same prompts and reached the same decisions as the real run."""

    week_id: date
    calls: int
    compared: list[str]  # what was compared: "llm:<role>#n", "stream:<name>"


class CheckpointsAuditPassed(EventPayload):
    """Each of the week's `checkpoints` run by this invocation, replayed as a dry run in a market holding nothing
    after its instant (of its session, the open alone), asked the same prompts (`calls` model or rules answers in all)
    and reached the same decisions as the real checkpoint. Recorded once the week's jobs are done."""

    week_id: date
    checkpoints: int
    calls: int


class PostmortemAuditPassed(EventPayload):
    """The week's postmortem, replayed just before the real one as a dry run (nothing stored, no memory written) in a
    market holding nothing after its instant, asked the same prompts (`calls` model or rules answers) and would have
    recorded and remembered the same: its postmortems, reflections, outcomes and lessons (`compared`: "llm:<role>#n",
    "stream:<name>", "result"). A week's lessons are recalled by every later week: a postmortem that read the future
    leaked it into their prompts, and their own audits, recalling the same lessons, passed."""

    week_id: date
    calls: int
    compared: list[str]


class LookaheadAuditFailed(EventPayload):
    """A weekly run, a checkpoint or a postmortem (`role` names which) differed once what came after its instant was
    removed: it read the future."""

    week_id: date
    role: str  # the LLM role or the stage stream that differed first
    line: int  # 1-based line of the first difference within that item
    real: str  # the real run's line
    audited: str  # the cut-off run's line


def weeks_done(stream: Sequence[StoredEvent]) -> set[date]:
    """The weeks a backtest's `stream` (streams.BACKTEST) shows finished (BacktestWeekDone), by any invocation."""
    return {BacktestWeekDone.from_event(e).week_id for e in stream if e.type == BacktestWeekDone.event_type()}


def first_leak(stream: Sequence[StoredEvent]) -> LookaheadAuditFailed | None:
    """The look-ahead audit failure a backtest's `stream` holds (the backtest stopped at it), or None."""
    leak = next((e for e in stream if e.type == LookaheadAuditFailed.event_type()), None)
    return None if leak is None else LookaheadAuditFailed.from_event(leak)


def _where(leak: LookaheadAuditFailed) -> str:
    """Which job's audit `leak` failed, and what differed first: "at its checkpoint 2024-01-03 12:00 (llm:checkpoint#0,
    line 9)", "at its postmortem 2024-01-09 16:30 (...)", or "at its weekly run (stream:decision, line 4)" (a
    checkpoint's and a postmortem's roles are so named by the audit)."""
    job, found, what = leak.role.partition(": ")
    if found and job.startswith(("checkpoint ", "postmortem ")):
        return f"at its {job} ({what}, line {leak.line})"
    if leak.role.startswith("discovery:"):  # the pickers run before the weekly run (app/backtest_audit_discovery.py)
        return f"at its discovery before the weekly run ({leak.role}, line {leak.line})"
    return f"at its weekly run ({leak.role}, line {leak.line})"


def unfinished(stream: Sequence[StoredEvent], *, through: date | None = None, running: bool = False) -> str | None:
    """What a leaderboard of these books must say when a backtest's `stream` (streams.BACKTEST) shows it stopped
    before its range's end (killed, interrupted, failed): which weeks are done, and what its figures cover. None for
    a finished backtest, and for books with no backtest (the live ones).

    `through`: the last session the figures value (their end). A backtest stopped inside a week has run part of its
    jobs, whose books (fills, checkpoints) are real and are valued to the close the last of them saw: a figure past
    the weeks done is said with the part of the week it holds, not as "only those" (a trial's note said 21 weeks
    beside figures to the close of the 22nd week's second session); the week not done is named either way, as
    `week_not_done` names it for the report's week list. `running`: another process holds the backtest's
    database (app/backtest_lock.py), so it is said to be running, not to be resumed (the same command exits 75)."""
    started = _unfinished_start(stream)
    if started is None:
        return None
    planned = (started.end - started.start).days // 7 + 1
    done = weeks_done(stream)
    weeks = f"{len(done)} of its {counted(planned, 'week')} ({started.start} to {started.end}) done"
    pending = _first_not_done(started, done)
    then = " to resume it"
    if pending is None:
        # Stopped after its last week, before BacktestFinished: "1 of its 1 week done" read as weeks missing.
        range_ = f"{counted(planned, 'week')}, {started.start} to {started.end}"
        note = f"backtest {started.name} is unfinished in its record only: every week of its range ({range_}) is "
        note += "done, but it stopped before recording its finish; these figures cover every week"
        then = " to record its finish"
    elif through is not None and through >= pending:
        held = f"the weeks done and week {pending}'s" if done else f"week {pending}'s"
        note = f"backtest {started.name} is unfinished: {weeks} and week {pending} in part: these figures cover "
        note += f"{held} jobs to the close of {through}"
    elif pending is not None:
        # Stopped before the week's first close (inside its weekly run): the week is named still, as the report's
        # week list marks it (a trial's note named no week beside a report marking the second one partial).
        note = f"backtest {started.name} is unfinished: {weeks} and week {pending} not done: these figures cover "
        note += "only the weeks done" + (", none of its closes" if through is not None else "")
    else:
        note = f"backtest {started.name} is unfinished: {weeks}, and these figures cover only those"
    leak = first_leak(stream)
    if leak is not None:
        failed = f"it failed its look-ahead audit at week {leak.week_id}, {_where(leak)}"
        return f"{note}; {failed}: its results are not evidence"
    if running:
        return f"{note}; {RUNNING}"
    return f"{note}; {again(stream, then)}"


def finish_missing(stream: Sequence[StoredEvent]) -> bool:
    """Whether a backtest's `stream` shows every week of its last start's range done and no BacktestFinished after
    that start: stopped between its last week and its finish, which a rerun records without running a week."""
    started = _unfinished_start(stream)
    return started is not None and _first_not_done(started, weeks_done(stream)) is None


def week_not_done(stream: Sequence[StoredEvent]) -> date | None:
    """The first week of an unfinished backtest's range (its last start's) that its `stream` shows not done: the week
    it stopped (or runs) inside, if it got as far as any of its jobs. None for a finished backtest, one with every week
    done, and books with no backtest (the live ones)."""
    started = _unfinished_start(stream)
    return None if started is None else _first_not_done(started, weeks_done(stream))


def _first_not_done(started: BacktestStarted, done: Collection[date]) -> date | None:
    """The first week of `started`'s range not in `done`, or None."""
    planned = (started.end - started.start).days // 7 + 1
    return next((w for w in (started.start + timedelta(days=7 * n) for n in range(planned)) if w not in done), None)


def _unfinished_start(stream: Sequence[StoredEvent]) -> BacktestStarted | None:
    """The last start of a backtest's `stream` when no BacktestFinished followed it, else None."""
    starts = [e for e in stream if e.type == BacktestStarted.event_type()]
    if not starts:
        return None
    last = starts[-1]
    if any(e.type == BacktestFinished.event_type() and e.id > last.id for e in stream):
        return None
    return BacktestStarted.from_event(last)


# What an unfinished backtest's note says while another process runs it (its database's lock held).
RUNNING = "it is still running (another process holds its database): these are the books it has written so far"


# Exits after which the same command goes on: a temporary failure (75), a stop by Ctrl-C (130) or SIGTERM (143).
_GOES_ON = frozenset({75, 130, 143})
_SAID = 400  # characters of a stop's error repeated (a missing-files message lists every file and what to do)


def again(stream: Sequence[StoredEvent], then: str) -> str:
    """What to do to go on with the backtest whose `stream` this is (`then`: what for, " to resume it"): run the same
    command again, or, when its last invocation stopped on an error that command meets again (a bad price file, a
    missing one: BacktestStopped, exit 1 or 2), fix that first; said 'run again', the user met the same error again."""
    last = max((e.id for e in stream if e.type == BacktestStarted.event_type()), default=None)
    stops = [e for e in stream if e.type == BacktestStopped.event_type() and last is not None and e.id > last]
    stop = BacktestStopped.from_event(stops[-1]) if stops else None
    if stop is None or stop.exit_code in _GOES_ON:
        later = " later" if stop is not None and stop.exit_code == 75 else ""
        return f"run the same `llmtrade backtest` command again{later}{then}"
    error = stop.error if len(stop.error) <= _SAID else stop.error[: _SAID - 1] + "…"
    return (
        f"its last run stopped on an error the same command meets again (exit {stop.exit_code}: {error}): fix what it "
        f"names, then run the same `llmtrade backtest` command{then}"
    )


_Said = TypeVar("_Said", PriceJumpFlagged, PricesBeginLate, PricesEndEarly)


def standing(stream: Sequence[StoredEvent], kind: type[_Said]) -> list[_Said]:
    """The `kind` records a backtest's `stream` holds that still stand, in order: those of prices a later start read
    afresh (BacktestStarted.replaced_after) are dropped, that start having recorded what it found in them itself. A
    jump is dropped from that day on (a spike is judged by the next session's bar too), a late listing or a delisting
    after it."""
    kept: list[_Said] = []
    for event in stream:
        if event.type == kind.event_type():
            kept.append(kind.from_event(event))
        elif event.type == BacktestStarted.event_type():
            cut = BacktestStarted.from_event(event).replaced_after
            if cut is not None:
                kept = [said for said in kept if not _read_afresh(said, cut)]
    return kept


def _read_afresh(said: PriceJumpFlagged | PricesBeginLate | PricesEndEarly, cut: date) -> bool:
    if isinstance(said, PriceJumpFlagged):
        return said.day >= cut
    return (said.first_day if isinstance(said, PricesBeginLate) else said.last_day) > cut


def flagged_jumps(stream: Sequence[StoredEvent]) -> list[PriceJumpFlagged]:
    """The split-like price jumps a backtest's `stream` recorded at its starts (`standing`), each (symbol, day) once,
    by day."""
    found = {}
    for jump in standing(stream, PriceJumpFlagged):
        found.setdefault((jump.symbol, jump.day), jump)
    return sorted(found.values(), key=lambda j: (j.day, j.symbol))


def delisted(stream: Sequence[StoredEvent]) -> dict[str, date]:
    """The symbols a backtest's `stream` recorded as ending before its range (PricesEndEarly, `standing`), with their
    last day."""
    return {said.symbol: said.last_day for said in standing(stream, PricesEndEarly)}


def listed_late(stream: Sequence[StoredEvent]) -> dict[str, date]:
    """The symbols a backtest's `stream` recorded as beginning after its first week's as-of session (PricesBeginLate,
    `standing`), with their first day (after the range's end for one listed after it)."""
    return {said.symbol: said.first_day for said in standing(stream, PricesBeginLate)}


def delisted_note(stream: Sequence[StoredEvent]) -> str | None:
    """What a leaderboard of these books must say of the symbols whose prices ended during the range (PricesEndEarly):
    when, and that positions in them were closed at that last close (DelistingSettled). None when there are none."""
    ends = delisted(stream)
    if not ends:
        return None
    closed = {DelistingSettled.from_event(e).symbol for e in stream if e.type == DelistingSettled.event_type()}
    shown = "; ".join(
        f"{symbol} on {day}" + (" (settled at that close)" if symbol in closed else " (not settled yet)")
        for symbol, day in sorted(ends.items(), key=lambda item: (item[1], item[0]))
    )
    return (
        f"prices ended during the range (taken as delistings): {shown}. Each was offered while it traded and every "
        "account's position in it closed at its last close; EQUAL_WEIGHT (which trades only at its rebalances) kept "
        "its shares, if any, valued at that close to the end, and left it out of every rebalance after"
    )


def jumps_note(stream: Sequence[StoredEvent]) -> str | None:
    """What a leaderboard of these books must say when their prices hold split-like jumps or spikes (`flagged_jumps`):
    its figures for whatever held the symbol across such a day count a move that may never have happened. None when
    there are none (and for books with no backtest)."""
    jumps = flagged_jumps(stream)
    if not jumps:
        return None
    each = [f"{j.symbol} on {j.day} (x{j.ratio:.3f}: {jump_named(j.looks_like)})" for j in jumps]
    shown = named_first(each, 5, sep="; ", more="; and {n} more")
    spikes = sum(j.looks_like == SPIKE for j in jumps)
    kinds = " and ".join(
        f"{n} {word}{'s' if n > 1 else ''}"
        for n, word in ((len(jumps) - spikes, "split-like jump"), (spikes, "one-day spike"))
        if n
    )
    return (
        f"the prices hold {kinds}, flagged at the backtest's start: {shown}. "
        "A return across such a day (EQUAL_WEIGHT's, SPY's, an account's that held it) counts a move that may never "
        "have happened: rerun on split-adjusted (or corrected) prices unless the move was real"
    )
