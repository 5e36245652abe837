"""The look-ahead audit of a sampled week's postmortem: rerun just before the real one as a dry run in a market cut at
its own instant (the wall the checkpoints are cut at, app/backtest_audit.py `wall`: every bar of the sessions closed by
then, of a session open then its open alone, no intraday price stamped after it), and what it asked and would have
written must be the real postmortem's.

The postmortem writes the week's outcomes and lessons into the memory that every later week's prompts recall: one
that read a bar after its instant leaked the future into all of them, and each later week's audit passed (its rerun
recalls the same lessons). The dry run writes nothing: its events go to a draft view of the store, and the memory over
that draft appends its OutcomeRemembered and LessonRemembered to the draft alone and projects no row (memory/store.py
`PgMemory.remember`), the week's summaries are not projected (app/jobs.py `postmortem`). What it would have remembered
is read from the draft and compared.

Compared, keyed as the verdict names them: its model calls ("llm:<role>#n"), every event it appended but its run's
start and end and its market's fetches, by stream ("stream:<name>": the postmortems, the reflections, the outcomes and
lessons remembered, the fills it recorded; their run id aside), and what its result said ("result": degraded,
reflections failed, legs never sent). A difference is recorded with the role "postmortem <day> <time>: <key>"
(app/backtest_audits.py)."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date

from llmtrade.app.backtest_audit import CALL, Draft, cut_off_run, texts_of, verdict_of, wall
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.evaluation_results import AuditWeek
from llmtrade.app.results import PostmortemResult
from llmtrade.domain import streams
from llmtrade.domain.backtests import PostmortemAuditPassed
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.runs import RunFinished, RunStarted
from llmtrade.storage.draft_events import DraftEventStore
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.schedule import Job

# Its run's own records: their arguments and totals are the job's, compared in its result.
_RUN = frozenset({CALL, RunStarted.event_type(), RunFinished.event_type()})
# What its result says beyond the events (the postmortems themselves are compared as stored).
_SAID = {"written_now", "never_sent", "failed_reflections", "degraded", "models_kept"}


def dry_run_postmortem(app: BacktestContainer, week_id: date) -> Draft:
    """The postmortem of `week_id` at the clock's now, as a dry run in a market cut at now (`wall`); what it asked and
    would have written."""
    from llmtrade.app.jobs import postmortem  # jobs imports the container: as app/backtest_audit.py does

    def items(draft: DraftEventStore, result: object, own: list[StoredEvent]) -> dict[str, str] | None:
        if not isinstance(result, PostmortemResult):
            return None
        return _items(result, own, [e for e in draft.appended() if e.run_id == result.run_id])

    cut = wall(app.calendar, app.clock.now())
    return cut_off_run(app, cut, lambda: postmortem(app, week=week_id, dry_run=True), items, "the postmortem")


def compare_postmortem(events: EventStore, job: Job, real_run: PostmortemResult, draft: Draft) -> AuditWeek:
    """The real postmortem against its cut-off dry run: passed, or the first difference, its role naming the postmortem
    ("postmortem 2024-01-09 16:30: stream:week:2024-01-03:postmortem")."""
    found = events.read(run_id=real_run.run_id)
    verdict = verdict_of(real_run.week_id, _items(real_run, [e for e in found if e.type == CALL], found), draft)
    if verdict.passed:
        return verdict
    return verdict.model_copy(update={"role": f"postmortem {job.day} {job.time}: {verdict.role}"})


def postmortem_passed(events: EventStore, week_id: date, calls: int, compared: Sequence[str]) -> None:
    """The week's postmortem audited and passed: one event on the backtest stream (the leaderboard's note says it)."""
    passed = PostmortemAuditPassed(week_id=week_id, calls=calls, compared=list(compared))
    events.append([NewEvent.of(passed, stream=streams.BACKTEST, week_id=week_id)])


def _items(run: PostmortemResult, calls: list[StoredEvent], appended: list[StoredEvent]) -> dict[str, str]:
    """The postmortem's comparable texts: its model calls, what it appended by stream, what its result said."""
    items = texts_of(calls)
    by_stream: dict[str, list[str]] = defaultdict(list)
    # Its market's fetches aside: the cut market records none (app/backtest_market.py), and what they read is compared
    # in what the postmortem made of it.
    fetches = streams.market_stream(run.run_id)
    for event in appended:
        if event.type not in _RUN and event.stream != fetches:
            payload = {k: v for k, v in event.payload.items() if k != "run_id"}  # the dry run's is its own
            by_stream[event.stream].append(f"{event.type}\n" + json.dumps(payload, indent=1, sort_keys=True))
    # Each stream's in the order of their texts: the owners' reflections are stored as their answers arrive.
    for stream, texts in by_stream.items():
        items[f"stream:{stream}"] = "\n".join(sorted(texts))
    items["result"] = json.dumps(run.model_dump(mode="json", include=_SAID), indent=1, sort_keys=True)
    return items
