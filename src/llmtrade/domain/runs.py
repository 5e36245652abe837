"""A run: one invocation of a command (run-weekly, council, checkpoint...), with its mode on record."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from llmtrade.domain.events import EventPayload
from llmtrade.domain.wording import market_time

# Who issues run ids in this context: None is the live default (random suffix); a backtest installs
# a deterministic issuer so two replays of the same history name their runs alike.
_issuer: ContextVar[Callable[[datetime], str] | None] = ContextVar("run_id_issuer", default=None)


def new_run_id(now: datetime) -> str:
    """Sortable by time, unique across machines: 20260107T130000Z-3f9a1c (the suffix random, or under
    `issued_by` whatever that issuer gives)."""
    issue = _issuer.get()
    if issue is not None:
        return issue(now)
    return f"{_stamp(now)}-{secrets.token_hex(3)}"


@contextmanager
def issued_by(issuer: Callable[[datetime], str]) -> Iterator[None]:
    """Within this block (and tasks and threads started from it), `new_run_id` asks `issuer`."""
    token = _issuer.set(issuer)
    try:
        yield
    finally:
        _issuer.reset(token)


class CountedRunIds:
    """Deterministic run ids: the instant's stamp and a suffix hashed from (`salt`, instant, n), n counting
    the runs issued at that instant; an id in `taken` (runs already on record, e.g. of a backtest that is
    resuming) is skipped, so a resumed run never reuses a stream. Same history in, same ids out."""

    def __init__(self, salt: str, taken: Collection[str] = ()):
        self._salt = salt
        self._taken = set(taken)
        self._counts: dict[str, int] = {}

    def __call__(self, now: datetime) -> str:
        stamp = _stamp(now)
        while True:
            n = self._counts.get(stamp, 0)
            self._counts[stamp] = n + 1
            digest = hashlib.sha256(f"{self._salt}|{stamp}|{n}".encode()).hexdigest()[:6]
            run_id = f"{stamp}-{digest}"
            if run_id not in self._taken:
                self._taken.add(run_id)
                return run_id


def _stamp(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


class RunStarted(EventPayload):
    command: str
    arguments: dict[str, str | int | float | bool | None]
    mode: str  # live | offline | replay
    mode_reason: str
    config_source: str
    version: str
    # The advisory lock the run's connection held from before this event until its end was stored (storage/
    # run_leases.py): free with no end on record, the run is gone (RunKilled). None: a run that held none (one
    # recorded before leases, a backtest's, `ask`'s), which no later run can prove dead.
    lease: int | None = None


class RunFinished(EventPayload):
    command: str
    degraded: bool
    llm_calls: int  # every answer the run asked for: a model's (live or replayed) and the offline rules' ($0)
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    duration_ms: float


class RunFailed(EventPayload):
    """A run ended by an error; `exit_code` is the command's exit for it (75 a wait, 130/143 a stop by Ctrl-C or
    SIGTERM, even when the stop's way out raised something else, 1 for the rest); None in events recorded before it
    was (error_type then tells a stop only when the stop itself ended the run)."""

    command: str
    error_type: str
    error: str
    duration_ms: float
    exit_code: int | None = None


class CommandFailed(EventPayload):
    """A job command (run-due, run-weekly, checkpoint, postmortem) ended on a database failure that no run of it
    recorded: its connection dropped between its jobs or while it read what is due, or the database never answered.
    It exited 75 and could store nothing then, so it left this in its home, and the next job command that reaches the
    database records it (app/unrecorded_commands.py): before, nothing on record said the wake-up had failed.
    `failed_at`: when it ended."""

    command: str
    error_type: str
    error: str
    exit_code: int
    failed_at: datetime


# What a run with no end and no lease is known to be: killed, or lost its database (and so could not record its end).
UNENDED = "recorded no end (killed, or lost its database)"


class RunKilled(EventPayload):
    """A run that recorded no end (RunFinished, RunFailed) and never will: no process holds its lease any more, so
    it was killed without warning (SIGKILL, the OOM killer, a reboot or power cut, the database server restarted), or
    its end could not be stored before its connection closed and it could leave none in its home either (a run that
    did leave one is recorded with that RunFailed instead: app/unrecorded_ends.py). Recorded once, on the run's own
    stream, by the later run `found_by` that found it so (app/killed_runs.py; "run-due": the wake-up closing its
    checkpoint, app/checkpoint_deadlines.py), at this event's time; `last_event_type` at `last_event_at` is the last
    thing the run recorded, when it was last known alive. Not a RunFailed: no error, exit code or duration of the run
    is known, and the readers of RunFailed (waits, a week's mode) act on those."""

    command: str  # the killed run's, as its RunStarted said
    found_by: str
    last_event_type: str
    last_event_at: datetime

    def note(self, found_at: datetime) -> str:
        """What `status`, `report` and `trace` say of the run."""
        # A run-due wake-up closing the killed run's checkpoint records it before the closing (it starts no run).
        by = self.found_by if self.found_by == "run-due" else f"run {self.found_by}"
        return (
            f"{UNENDED}: no process held its lease when {by} looked at "
            f"{market_time(found_at)} (its last event: {self.last_event_type} at {market_time(self.last_event_at)})"
        )


class ConfigRejected(EventPayload):
    """A job command (run-due, run-weekly, checkpoint, postmortem) stopped on a configuration that cannot be used: a
    YAML error, an unknown key, an invalid value, a broken prompt override. `files` each file named, `error` what the
    command printed (each file, field path and bad value). Recorded once while the same error of the same command
    lasts (app/config_rejections.py): again when it changes or after a run has started since."""

    command: str
    files: list[str]
    error: str


class CommandRefused(EventPayload):
    """A command that changes an account's books by hand (`positions adopt`, `release`, `settle`), or a job command
    typed (`run-weekly`, `checkpoint`, `postmortem`, not a dry run: commands/context.py), refused its input (exit 2): an
    unknown account, no such position, a price far from the last close without --confirm-price, a broker that does
    not settle, a checkpoint time or a --week that is none. `arguments` as given (the account, the symbol, the price);
    `error` what it printed. The books keep the attempt beside what it would have changed: a settlement refused for a
    slipped decimal point is on record, not only in a terminal's scrollback (app/command_refusals.py)."""

    command: str
    arguments: dict[str, str]
    error_type: str
    error: str


class ClockBehindRefused(EventPayload):
    """A command that trades or records the books (run-due, run-weekly, checkpoint, postmortem, a breaker reset, a
    position adopted or released, discover, a watchlist edit, memory rebuild) refused before doing anything: the books
    hold a record (`latest_at`) later than the clock's `now`, beyond a few minutes' slack (app/clock_guard.py).
    Recorded once while the same command finds the same latest record: cron's wake-ups every few minutes would add one
    each."""

    command: str
    latest_at: datetime
    now: datetime


class ClockSkewRefused(EventPayload):
    """A command that writes the books refused before doing anything: the system clock read `system_at` while the
    database server's read `database_at`, `skew_seconds` apart (positive: the system clock ahead), beyond the
    `allowed_seconds` (LLMTRADE_CLOCK_SKEW_MINUTES; app/clock_skew.py). `since`: the server's time at this skew's
    first refusal, the same on every refusal of it (its alert's key). Recorded once per command while the same skew
    lasts: cron's wake-ups every few minutes would add one each."""

    command: str
    system_at: datetime
    database_at: datetime
    skew_seconds: float
    allowed_seconds: float
    since: datetime


class RefusalsEnded(EventPayload):
    """A job command accepted, its configuration and clock usable, after wake-ups were refused (ConfigRejected,
    ClockBehindRefused, ClockSkewRefused; `refusal_id` the last of them) with no run begun since: the configuration
    mended or the clock put right by `occurred_at` at the latest. Recorded once, by the first such command
    (app/refusals_ended.py): cron's idle wake-ups record nothing else, so a refusal mended before a quiet hour seemed in
    force until the next run began, and a checkpoint missed in that hour (the machine off) was blamed on it."""

    command: str
    refusal_id: int


class WeekCompleted(EventPayload):
    """The weekly run finished every stage for the week; a later run-weekly does nothing."""

    run_id: str
    degraded: bool
    notes: list[str]


class WeekNotRun(EventPayload):
    """A week whose weekly run no wake-up completed before its last session closed (the machine off, cron stopped or
    broken): the week is skipped, its weekly run, checkpoints and postmortem (`jobs`, their schedule keys) never run
    late, as its frozen inputs would read the present. Recorded once on the week's own stream by the first wake-up
    after (app/missed_weeks.py), so `events --week`, `status` and the report show the week rather than a silent gap."""

    jobs: list[str]  # e.g. weekly:2025-12-03, checkpoint:2025-12-03T09:00, ..., postmortem:2025-12-03
    reason: str
