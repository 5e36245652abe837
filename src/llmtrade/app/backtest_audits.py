"""The look-ahead audit across a backtest's jobs (`Audits`): which jobs it reruns cut off, the verdicts so far, and
the seconds it took; the reruns and comparisons themselves are app/backtest_audit.py's.

A sampled week's discovery and weekly run are audited just before each runs (`discover`, `before`); each of that
week's checkpoints too, when its weekly run passed its audit and the backtest's quotes can be cut at an instant (not
the synthetic market's: its minute path is drawn through the session's own bar). A checkpoint's pass is recorded with
its week's others once the week's jobs are done (`week_done`). The week's postmortem, when its weekly run passed its
audit, is audited the same way, cut at its own instant, on the synthetic market too (by default it runs after the
session's close), its pass recorded as it runs (app/backtest_audit_postmortem.py). Any difference stops the
backtest (exit 1), recorded. A backtest stopped inside an audited week (Ctrl-C, SIGTERM, a kill, a replay miss) goes
on auditing the week's checkpoints left, and its postmortem, when resumed (`going_on`): left unaudited, the
checkpoint a leak made miss the replay cache ran unaudited once --live-misses bought its answer."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

from llmtrade.app.backtest_audit import (
    Draft,
    checkpoints_passed,
    compare,
    compare_checkpoint,
    dry_run_checkpoint,
    dry_run_cut_off,
    first_difference,
    leak_message,
    record,
    wall,
)
from llmtrade.app.backtest_audit_discovery import compare_discovery, dry_run_discovery
from llmtrade.app.backtest_audit_postmortem import compare_postmortem, dry_run_postmortem, postmortem_passed
from llmtrade.app.backtest_audit_returns import compare_matured, dry_run_matured
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.backtest_discovery import BacktestDiscovery
from llmtrade.app.backtest_stops import audit_step, discovery_step
from llmtrade.app.evaluation_results import AuditWeek
from llmtrade.app.results import CheckpointResult, PostmortemResult, WeeklyResult
from llmtrade.domain.backtests import LookaheadAuditPassed
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.streams import postmortem_reflections_stream, postmortem_stream
from llmtrade.domain.wording import counted
from llmtrade.errors import LlmtradeError, OperationalError, ReplayMiss
from llmtrade.exits import causes
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.schedule import Job, JobKind
from llmtrade.workflows.weeks import resolve_week

KIND = "audit"  # its seconds in the backtest's timing, beside the jobs'


@dataclass
class Audits:
    """`sampled`: the weeks to audit; `cut_checkpoints`: whether their checkpoints are audited too; `spent`: the
    backtest's seconds per kind, to which this adds its own under KIND. `weeks`: each audited week's verdict."""

    sampled: set[date]
    cut_checkpoints: bool
    spent: Counter[str]
    weeks: list[AuditWeek] = field(default_factory=list)
    said: list[str] = field(default_factory=list)  # what `going_on` found to say at the start
    # Told which step runs (a cut-off rerun, the discovery, the job itself: None): a stop names it (Whereabouts.doing).
    doing: Callable[[str | None], None] = lambda _step: None
    # Each week whose discovery passed its audit now: what was compared, recorded with its weekly run's verdict.
    _discovered: dict[date, list[str]] = field(default_factory=dict)
    # Each week whose weekly run passed its audit now: its checkpoints passed so far and their answers.
    _checkpoints: dict[date, tuple[int, int]] = field(default_factory=dict)
    # The weeks whose postmortem is audited when it runs: their weekly run passed its audit (now, or before a resume).
    _postmortems: set[date] = field(default_factory=set)

    def before(self, app: BacktestContainer, job: Job) -> Draft | None:
        """The job's cut-off dry run, if it is audited: the weekly run with no bar after its as-of session, a
        checkpoint or the postmortem with nothing after its own instant but its session's open."""
        if job.week_id not in self.sampled:
            return None
        tick = time.perf_counter()
        self.doing(audit_step(job))  # a stop in the rerun names it, not the real job (kept when one is raised)
        try:
            draft = None
            if job.kind is JobKind.WEEKLY:
                _, asof = resolve_week(app.clock.now(), job.week_id, app.loaded.config.schedule)
                draft = dry_run_cut_off(app, job.week_id, wall(app.calendar, asof)[0])
            elif job.kind is JobKind.CHECKPOINT and self.cut_checkpoints and job.week_id in self._checkpoints:
                draft = dry_run_checkpoint(app, job.week_id, job.time)
            elif job.kind is JobKind.POSTMORTEM and job.week_id in self._postmortems:
                draft = dry_run_postmortem(app, job.week_id)
        finally:
            self.spent[KIND] += time.perf_counter() - tick
        self.doing(None)
        return draft

    def discover(self, app: BacktestContainer, discovery: BacktestDiscovery, week_id: date) -> None:
        """The week's discovery before its weekly run (BacktestDiscovery.before_weekly), with, in a sampled week, its
        cut-off rerun just before it (app/backtest_audit_discovery.py): a difference stops the backtest (exit 1),
        recorded; what was compared is recorded with the weekly run's verdict (`after`)."""
        drafted = None
        if week_id in self.sampled:  # else no audit time at all: an unaudited backtest's timing has no "audit" kind
            tick = time.perf_counter()
            self.doing(audit_step(None))
            drafted = dry_run_discovery(app, discovery, week_id)
            self.spent[KIND] += time.perf_counter() - tick
        self.doing(discovery_step())
        with self.missed(None if drafted is None else drafted[0]):
            discovery.before_weekly(week_id)
        if drafted is None:
            return
        with app.storage() as storage:
            differs = compare_discovery(storage.events, drafted)
            if differs is None:
                self._discovered[week_id] = list(drafted[0].items)
                return
            audit = self._leaked(storage.events, week_id, differs)
        raise OperationalError(leak_message(audit))

    def matured(self, app: BacktestContainer, discovery: BacktestDiscovery, week_id: date) -> None:
        """The forward returns the week's sessions matured (BacktestDiscovery.matured), with, in a sampled week, their
        cut-off rerun just before (app/backtest_audit_returns.py): a difference stops the backtest (exit 1),
        recorded. Else no audit time at all, as `discover`."""
        if week_id not in self.sampled:
            discovery.matured()
            return
        tick = time.perf_counter()
        self.doing(audit_step(None))
        audited = dry_run_matured(app, discovery)
        self.spent[KIND] += time.perf_counter() - tick
        self.doing(None)
        differs = compare_matured(discovery.matured(), audited)
        if differs is None:
            return
        with app.storage() as storage:
            audit = self._leaked(storage.events, week_id, differs)
        raise OperationalError(leak_message(audit))

    def _leaked(self, events: EventStore, week_id: date, differs: tuple[str, str, str]) -> AuditWeek:
        """The failed verdict of a rerun that asked no model (discovery's, the forward returns'), from what differs
        (the role naming it, the real text, the cut-off one's): recorded and kept. The caller raises, once `events`'
        storage has committed it."""
        key, real, audited = differs
        line, mine, theirs = first_difference(real, audited)
        audit = AuditWeek(week_id=week_id, passed=False, calls=0, role=key, line=line, real=mine, audited=theirs)
        record(events, audit, ())
        self.weeks.append(audit)
        return audit

    @contextmanager
    def missed(self, draft: Draft | None) -> Iterator[None]:
        """The real job (or discovery), run under it. A replay miss after its cut-off rerun ran whole (`draft`: every
        answer it asked found in the cache, a plain --replay's miss stopping it) is a prompt that rerun did not ask: a
        look-ahead the comparison would name. Said on the miss, which otherwise read as a cache merely short, and
        advised rerunning the range --offline under a new --name: the finding lost."""
        try:
            yield
        except LlmtradeError as exc:
            if draft is not None and draft.error is None and any(isinstance(c, ReplayMiss) for c in causes(exc)):
                exc.add_note(
                    "its look-ahead audit's rerun just before, in a market without what came after its instant, found "
                    "every answer it asked in the cache: the real run asked a prompt that rerun did not, a look-ahead "
                    "the audit names once that answer is bought (the same command with --live-misses USD)"
                )
            raise

    def after(self, app: BacktestContainer, job: Job, outcome: object, draft: Draft | None) -> None:
        """The real run (`outcome`) against its cut-off one, recorded (a checkpoint's pass at the week's end:
        `week_done`; a postmortem's now, `_postmortem_passed`); a difference stops the backtest (OperationalError,
        exit 1)."""
        if draft is None:
            return
        with app.storage() as storage:
            if isinstance(outcome, CheckpointResult):
                audit = compare_checkpoint(storage.events, outcome, draft)
                if audit.passed:
                    done, calls = self._checkpoints[job.week_id]
                    self._checkpoints[job.week_id] = (done + 1, calls + audit.calls)
                    return
                record(storage.events, audit, ())
            elif isinstance(outcome, WeeklyResult):  # else already complete (a resume): nothing fresh to compare with
                audit = compare(storage.events, job.week_id, outcome, draft)
                record(storage.events, audit, [*self._discovered.pop(job.week_id, []), *draft.items])
                if audit.passed:
                    self._checkpoints[job.week_id] = (0, 0)  # its checkpoints are audited after it (`before`)
                    self._postmortems.add(job.week_id)  # and its postmortem
            elif isinstance(outcome, PostmortemResult):
                self._postmortems.discard(job.week_id)
                if not outcome.written_now:  # loaded, as written before a stop: nothing fresh to compare with
                    return
                audit = compare_postmortem(storage.events, job, outcome, draft)
                if audit.passed:
                    postmortem_passed(storage.events, job.week_id, audit.calls, list(draft.items))
                    self._postmortem_passed(job.week_id)
                    return
                record(storage.events, audit, ())
            else:
                return
        self.weeks.append(audit)
        if not audit.passed:
            raise OperationalError(leak_message(audit))

    def going_on(
        self, count: int, inside: dict[date, tuple[int, int, bool]], stream: Sequence[StoredEvent]
    ) -> set[date]:
        """Of the sampled weeks resumed inside (`inside`: their checkpoints run before, and left, and whether their
        postmortem is left with nothing of it stored: `left_inside`), those whose weekly run passed its audit in an
        earlier invocation (`stream`: the backtest stream): their checkpoints left (when cut) and their postmortem are
        audited now; the checkpoints run before the stop are not counted (audited or not then, no pass of theirs was
        recorded: `week_done`). What to say of them at the start is left in `said`. Returns them: they are not among
        the weeks "not audited now" (not_audited_now)."""
        passed = {
            LookaheadAuditPassed.from_event(e).week_id for e in stream if e.type == LookaheadAuditPassed.event_type()
        }
        weeks: list[date] = []
        for week in sorted(w for w in inside if w in self.sampled and w in passed):
            ran, left, postmortem = inside[week]
            checking = self.cut_checkpoints and left > 0
            # One with nothing left to audit (stopped after its postmortem was written): not_audited_now says it.
            if not checking and not postmortem:
                continue
            weeks.append(week)
            said = f"--audit {count}: week {week} was stopped inside after its weekly run passed its audit: its "
            if checking:
                self._checkpoints[week] = (0, 0)
                said += f"{counted(left, 'checkpoint')} left" + (" and its postmortem are" if postmortem else _is(left))
                said += f" audited now; the {ran} run before the stop{_is(ran)} not counted as audited"
            else:
                said += "postmortem is audited now"
                if self.cut_checkpoints and ran:
                    said += f"; its {counted(ran, 'checkpoint')}, run before the stop,{_is(ran)} not counted as audited"
            if postmortem:
                self._postmortems.add(week)
            if checking or (self.cut_checkpoints and ran):
                said += " (a week's checkpoints are recorded once its jobs are done)"
            self.said.append(said)
        return set(weeks)

    def _postmortem_passed(self, week_id: date) -> None:
        """The week's postmortem passed: its verdict says so (a week resumed after its weekly run's: one now)."""
        if all(a.week_id != week_id for a in self.weeks):
            self.weeks.append(AuditWeek(week_id=week_id, passed=True, calls=0))
        self.weeks = [a.model_copy(update={"postmortem": True}) if a.week_id == week_id else a for a in self.weeks]

    def week_done(self, app: BacktestContainer, week_id: date) -> None:
        """The week's checkpoints audited now, each passed: one CheckpointsAuditPassed, and the week's verdict says how
        many."""
        self._postmortems.discard(week_id)  # run before (a resume), or not audited: none of it is left
        if week_id not in self._checkpoints or not self.cut_checkpoints:
            return
        done, calls = self._checkpoints.pop(week_id)
        with app.storage() as storage:
            checkpoints_passed(storage.events, week_id, done, calls)
        if all(a.week_id != week_id for a in self.weeks):  # resumed inside: its weekly run was audited before (0 now)
            self.weeks.append(AuditWeek(week_id=week_id, passed=True, calls=0))
        self.weeks = [a.model_copy(update={"checkpoints": done}) if a.week_id == week_id else a for a in self.weeks]


def _is(n: int) -> str:
    return " is" if n == 1 else " are"


def left_inside(jobs: Sequence[Job], done: set[str], events: EventStore) -> tuple[int, int, bool]:
    """Of a week's `jobs` resumed inside: its checkpoints run before (`done`), those left, and whether its postmortem is
    left with nothing of it stored (one that stored its reflections or postmortems before the stop loads them: its
    rerun would compare what the stopped run wrote, not audit it)."""
    checks = [job.key in done for job in jobs if job.kind is JobKind.CHECKPOINT]
    week = next((job.week_id for job in jobs if job.kind is JobKind.POSTMORTEM and job.key not in done), None)
    untouched = week is not None and not any(
        events.stream_version(stream) for stream in (postmortem_stream(week), postmortem_reflections_stream(week))
    )
    return sum(checks), len(checks) - sum(checks), untouched
