"""The look-ahead audit: does a week's weekly run, one of its checkpoints or its postmortem, read anything it could not
have known?

For a sampled week, just before the real weekly run and at the same instant, the weekly job runs as a dry
run (a draft view: nothing reaches the database) in a market that holds no bar after the week's as-of
session (app/backtest_market.py). Then the real run goes as usual. If the pipeline is point-in-time the
two asked the same prompts and reached the same decisions; any difference means the real run saw a later
bar. The first difference (the model call's role or the stage's stream, the line, both texts) is
recorded as LookaheadAuditFailed on the backtest stream.

Each checkpoint of that week is audited the same way (`dry_run_checkpoint`), in a market cut at its own instant:
every bar of the sessions closed by then, of a session open then its open alone, no intraday price stamped after it.
Their verdict is one CheckpointsAuditPassed once the week's jobs are done. A market whose quotes cannot be cut so (the
synthetic one: its intraday path is drawn through the session's own bar) has its weekly runs audited only. The
discovery run before a sampled week's weekly run is audited too (app/backtest_audit_discovery.py), and so is its
postmortem, cut at its own instant as a checkpoint is (app/backtest_audit_postmortem.py).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.evaluation_results import AuditWeek
from llmtrade.app.paid_calls import keep_paid_calls
from llmtrade.app.results import CheckpointResult, WeeklyResult
from llmtrade.domain import streams
from llmtrade.domain.backtests import (
    CheckpointsAuditPassed,
    LookaheadAuditFailed,
    LookaheadAuditPassed,
    PostmortemAuditPassed,
)
from llmtrade.domain.events import LLMCallCompleted, StoredEvent
from llmtrade.domain.runs import CountedRunIds, issued_by
from llmtrade.errors import LlmtradeError, OperationalError, RunStopped, TemporaryError
from llmtrade.exits import causes
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.storage.draft_events import DraftEventStore
from llmtrade.storage.event_store import EventStore

CALL = LLMCallCompleted.event_type()

# The weekly run's stage outputs that must not depend on later bars. A dry run stores no risk stage (its
# plan is shown, never stored) and sends no order: the risk gate's verdicts are compared from the results.
COMPARED_STREAMS = (
    streams.SNAPSHOT,
    streams.RESEARCH,
    streams.PITCHES,
    streams.REVIEWS,
    streams.DECISION,
)


@dataclass(frozen=True)
class Draft:
    """What the cut-off dry run asked and decided, as comparable texts keyed by what they are."""

    items: dict[str, str]
    error: str | None = None


def sample(weeks: list[date], count: int) -> set[date]:
    """`count` weeks spread evenly over the range, first and last included: the same every time."""
    if count <= 0 or not weeks:
        return set()
    if count >= len(weeks):
        return set(weeks)
    if count == 1:
        return {weeks[0]}
    return {weeks[round(i * (len(weeks) - 1) / (count - 1))] for i in range(count)}


def not_audited_now(
    count: int, ran_before: set[date], stream: Sequence[StoredEvent], *, cut_checkpoints: bool = False
) -> str | None:
    """What to say when weeks `--audit count` sampled ran before this invocation (`ran_before`: their weekly run is
    stored): an audit runs just before a week's weekly run, so they cannot be audited now, and a user who added
    --audit to a resumed backtest would otherwise take them as checked. Each says what an earlier audit found
    (`stream`: the backtest stream's verdicts), if any; None when every sampled week runs now. `cut_checkpoints`:
    the checkpoints are audited too, so a week whose weekly run passed with no verdict of its checkpoints (stopped
    inside it: they are recorded once the week's jobs are done) is said to be half audited, not "passed"; so is one
    whose postmortem has no verdict (audited before postmortems were, or resumed with its postmortem begun)."""
    skipped = sorted(ran_before)
    if not skipped:
        return None
    verdicts: dict[date, str] = {}
    checked = {
        CheckpointsAuditPassed.from_event(e).week_id for e in stream if e.type == CheckpointsAuditPassed.event_type()
    }
    closed = {
        PostmortemAuditPassed.from_event(e).week_id for e in stream if e.type == PostmortemAuditPassed.event_type()
    }
    for event in stream:
        if event.type == LookaheadAuditPassed.event_type():
            week = LookaheadAuditPassed.from_event(event).week_id
            left = ["checkpoints"] if cut_checkpoints and week not in checked else []
            left += [] if week in closed else ["postmortem"]
            were = "was" if left == ["postmortem"] else "were"
            verdicts[week] = (
                f"audited then (its weekly run passed; its {' and '.join(left)} {were} not audited)"
                if left
                else "audited then (passed)"
            )
        elif event.type == LookaheadAuditFailed.event_type():
            verdicts[LookaheadAuditFailed.from_event(event).week_id] = "audited then (FAILED)"
    one = len(skipped) == 1
    found = ", ".join(f"{w} {verdicts.get(w, 'never audited')}" for w in skipped)
    said = (
        f"--audit {count}: {_named(skipped)} ran before this invocation, so {'it is' if one else 'they are'} not "
        f"audited now (an audit runs just before a week's weekly run): {found}"
    )
    # Only the weeks an earlier audit did not wholly cover: "to audit them" after a week that passed named it too.
    unchecked = [w for w in skipped if w not in verdicts or "not audited" in verdicts[w]]
    if unchecked:
        which = ("it" if one else "them") if unchecked == skipped else _named(unchecked)
        said += f"; to audit {which}, run the range under a new --name with --audit"
    return said


def _named(weeks: list[date]) -> str:
    """ "week W", or "weeks W1, W2 and W3"."""
    return f"week {weeks[0]}" if len(weeks) == 1 else f"weeks {', '.join(map(str, weeks[:-1]))} and {weeks[-1]}"


def dry_run_cut_off(app: BacktestContainer, week_id: date, cutoff: date) -> Draft:
    """The weekly run of `week_id` as a dry run that can see no bar after `cutoff`; what it asked and decided."""
    from llmtrade.app.jobs import weekly  # jobs imports the container: keep this module importable alone

    def items(draft: EventStore, result: object, own: list[StoredEvent]) -> dict[str, str] | None:
        return _items(draft, week_id, result, calls=own) if isinstance(result, WeeklyResult) else None

    return cut_off_run(app, (cutoff, None), lambda: weekly(app, week=week_id, dry_run=True), items, "the week")


def wall(calendar: TradingCalendar, now: datetime) -> tuple[date, date | None]:
    """What a run as of `now` may know: (the last session closed by then, whose bars it sees whole; the session open
    then, whose open alone it sees, or None). Worked out here from the exchange's hours, not with the market's own
    helpers: a leak planted in them must not move the wall it is tested against."""
    day = new_york_date(now)
    sessions = calendar.sessions_between(day - timedelta(days=14), day)
    closed = [s for s in sessions if calendar.session_close(s) <= now]
    if not closed:
        raise OperationalError(f"{now.isoformat()}: no completed session before it to audit from")
    opened = day if day in sessions and calendar.session_open(day) <= now < calendar.session_close(day) else None
    return closed[-1], opened


def dry_run_checkpoint(app: BacktestContainer, week_id: date, time: str) -> Draft:
    """The checkpoint `time` of `week_id` at the clock's now, as a dry run in a market cut at now (`wall`); what it
    asked and decided."""
    from llmtrade.app.jobs import checkpoint  # as in dry_run_cut_off

    def items(draft: EventStore, result: object, own: list[StoredEvent]) -> dict[str, str] | None:
        return _checkpoint_items(draft, result, calls=own) if isinstance(result, CheckpointResult) else None

    cut = wall(app.calendar, app.clock.now())
    return cut_off_run(app, cut, lambda: checkpoint(app, time, week=week_id, dry_run=True), items, "the checkpoint")


def cut_off_run(
    app: BacktestContainer,
    cut: tuple[date, date | None],
    run: Callable[[], object],
    items: Callable[[DraftEventStore, object, list[StoredEvent]], dict[str, str] | None],
    what: str,
) -> Draft:
    """`run` (a dry-run job) in a market cut at `cut` (the last session seen whole, the one whose open alone is seen);
    `items`: what of its draft, its result and its own model calls is compared (None: it did not run)."""
    app.cutoff, app.opened = cut
    app.last_draft = None  # an earlier week's draft is not this one's (keep_draft_calls would keep it again)
    try:
        try:
            # Its own run ids, so the real run is named the same whether or not its week was audited.
            with issued_by(CountedRunIds("lookahead-audit")):
                result = run()
        finally:
            app.cutoff = app.opened = None
        draft = app.last_draft
        run_id = getattr(result, "run_id", None)
        # Its own calls only: a dry run of this week stopped before (a provider down) kept its paid ones in the books
        # under the same run id (its ids are counted afresh), and this one's draft reads through to them.
        own = [] if draft is None else [e for e in draft.appended() if e.run_id == run_id and e.type == CALL]
        found = None if draft is None else items(draft, result, own)
        if found is None:
            return Draft({}, error=f"the dry run did not run {what}")
        return Draft(found)  # read before its paid calls are kept
    except LlmtradeError as exc:
        if any(isinstance(link, (TemporaryError, RunStopped)) for link in causes(exc)):
            # Not the cut-off market's doing (a provider down, the budget spent, a replay miss): the real run would
            # stop on it too. Raised, the backtest stops as for any job; taken for a difference, it was recorded as a
            # look-ahead leak and the backtest's name refused to go on for good.
            raise
        return Draft({}, error=f"{type(exc).__name__}: {exc}")
    finally:
        keep_draft_calls(app)  # however it ended: what it bought was paid for


def keep_draft_calls(app: BacktestContainer) -> None:
    """The cut-off dry run's call records that cost money (answers `--live-misses` bought) kept in the books
    (app/paid_calls.py): the real run reads those answers from the cache at no cost."""
    if app.last_draft is None:
        return
    with app.storage() as storage:
        keep_paid_calls(app.last_draft, storage.events, app.loaded.config.models.prices)


def compare(events: EventStore, week_id: date, real_run: WeeklyResult, draft: Draft) -> AuditWeek:
    """The real run of the week against the cut-off dry run: passed, or the first difference."""
    return verdict_of(week_id, _items(events, week_id, real_run), draft)


def compare_checkpoint(events: EventStore, real_run: CheckpointResult, draft: Draft) -> AuditWeek:
    """The real checkpoint against its cut-off dry run: passed, or the first difference, its role naming the
    checkpoint ("checkpoint 2024-03-27 12:00: llm:checkpoint#0")."""
    verdict = verdict_of(real_run.week_id, _checkpoint_items(events, real_run), draft)
    if verdict.passed:
        return verdict
    return verdict.model_copy(update={"role": f"checkpoint {real_run.day} {real_run.time}: {verdict.role}"})


def verdict_of(week_id: date, real: dict[str, str], draft: Draft) -> AuditWeek:
    calls = sum(1 for key in real if key.startswith("llm:"))
    if draft.error is not None:
        return AuditWeek(
            week_id=week_id, passed=False, calls=calls, role="run", line=0, real="(ran)", audited=draft.error
        )
    # In the real run's order (the first call asked, then the stages), so the first difference is the earliest.
    for key in [*real, *(k for k in draft.items if k not in real)]:
        mine, theirs = real.get(key, ""), draft.items.get(key, "")
        if mine != theirs:
            line, a, b = first_difference(mine, theirs)
            return AuditWeek(week_id=week_id, passed=False, calls=calls, role=key, line=line, real=a, audited=b)
    return AuditWeek(week_id=week_id, passed=True, calls=calls)


def record(events: EventStore, audit: AuditWeek, compared: Iterable[str]) -> None:
    from llmtrade.domain.events import NewEvent

    if audit.passed:
        payload: LookaheadAuditPassed | LookaheadAuditFailed = LookaheadAuditPassed(
            week_id=audit.week_id, calls=audit.calls, compared=list(compared)
        )
    else:
        payload = LookaheadAuditFailed(
            week_id=audit.week_id,
            role=audit.role or "",
            line=audit.line or 0,
            real=audit.real or "",
            audited=audit.audited or "",
        )
    events.append([NewEvent.of(payload, stream=streams.BACKTEST, week_id=audit.week_id)])


def checkpoints_passed(events: EventStore, week_id: date, checkpoints: int, calls: int) -> None:
    """The week's `checkpoints` audited, each passed, with their `calls` answers in all: one event on the backtest
    stream (the leaderboard's note counts them)."""
    from llmtrade.domain.events import NewEvent

    passed = CheckpointsAuditPassed(week_id=week_id, checkpoints=checkpoints, calls=calls)
    events.append([NewEvent.of(passed, stream=streams.BACKTEST, week_id=week_id)])


def first_difference(a: str, b: str) -> tuple[int, str, str]:
    """(1-based line number, a's line, b's line) of the first line where `a` and `b` differ."""
    left, right = a.splitlines(), b.splitlines()
    for n, (x, y) in enumerate(zip(left, right, strict=False), start=1):
        if x != y:
            return n, x, y
    n = min(len(left), len(right)) + 1
    return n, (left[n - 1] if n <= len(left) else "(nothing)"), (right[n - 1] if n <= len(right) else "(nothing)")


def _items(
    events: EventStore, week_id: date, run: WeeklyResult, *, calls: list[StoredEvent] | None = None
) -> dict[str, str]:
    """The run's comparable texts: its model calls (`calls`, else its LLMCallCompleted in `events`), the week's
    compared streams and the risk gate's verdicts."""
    items = call_texts(events, run.run_id, calls)
    for part in COMPARED_STREAMS:
        stream = streams.week_stream(week_id, part)
        found = events.read_stream(stream)
        if found:
            items[f"stream:{part}"] = "\n".join(_text(e) for e in found)
    verdicts = [v.model_dump(mode="json") for v in run.risk]
    items["risk:verdicts"] = json.dumps(verdicts, indent=1, sort_keys=True)
    return items


def _checkpoint_items(
    events: EventStore, run: CheckpointResult, *, calls: list[StoredEvent] | None = None
) -> dict[str, str]:
    """The checkpoint's comparable texts: its model calls, then each account's judgement, verdict and orders (what
    the broker refused of them aside: a dry run sends nothing)."""
    items = call_texts(events, run.run_id, calls)
    for account in run.accounts:
        decided = account.model_dump(mode="json", exclude={"refused"})
        items[f"account:{account.account_id}"] = json.dumps(decided, indent=1, sort_keys=True)
    return items


def call_texts(events: EventStore, run_id: str, calls: list[StoredEvent] | None) -> dict[str, str]:
    """The run's model calls (`calls`, else its LLMCallCompleted in `events`) as texts keyed "llm:<role>#n"."""
    return texts_of(events.read(run_id=run_id, type=CALL) if calls is None else calls)


def texts_of(calls: list[StoredEvent]) -> dict[str, str]:
    """Model calls (LLMCallCompleted) as texts keyed "llm:<role>#n"."""
    items: dict[str, str] = {}
    by_role: dict[str, list[str]] = defaultdict(list)
    for event in calls:
        call = LLMCallCompleted.from_event(event)
        prompt = "\n".join(f"[{m['role']}] {m['content']}" for m in call.messages)
        by_role[call.role].append(f"{prompt}\n[answer] {call.answer}")
    # A role's calls in the order of their texts, not of their records: concurrent calls are recorded as their replies
    # arrive, which for live calls (a --live-misses dry run buying what the real run then reads from the cache) is the
    # network's order; compared by arrival, the same calls differed and passed for a look-ahead leak.
    for role, texts in by_role.items():
        for n, text in enumerate(sorted(texts)):
            items[f"llm:{role}#{n}"] = text
    return items


def _text(event: StoredEvent) -> str:
    return f"{event.type}\n" + json.dumps(event.payload, indent=1, sort_keys=True, default=str)


def leak_message(audit: AuditWeek) -> str:
    """Why a week's audit stops the backtest (exit 1): where the real run and the cut-off one first differ."""
    return (
        f"look-ahead audit failed for week {audit.week_id}: {audit.role}, line {audit.line}: "
        f"real run {audit.real!r}, run without later bars {audit.audited!r}. The pipeline read data after "
        + _after((audit.role or "").partition(" ")[0])
        + "; this backtest's results are not evidence"
    )


def _after(job: str) -> str:
    """What the run read after, by the first word of a failed audit's role."""
    if job in ("checkpoint", "postmortem"):
        return f"the {job}'s instant"
    return "the week's as-of time"
