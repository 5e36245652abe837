"""A backtest's steps around its weeks (app/backtest.py): one scheduled job run, its discovery started, the tally.

Contract: `step` runs one scheduled job exactly as run-due would (the weekly run, a checkpoint or the postmortem),
inside the look-ahead audit when its week is sampled, and counts it in `Tally` (jobs and seconds per kind, model
and rules answers, degraded runs; the audit's own seconds apart). `discovery_started` starts the backtest's
discovery (app/backtest_discovery.py) with its candidates' bars fetched from the whole range's first history day,
or None when nothing is left to run.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date

from llmtrade.app.backtest_audits import KIND as AUDIT
from llmtrade.app.backtest_audits import Audits
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.backtest_discovery import BacktestDiscovery
from llmtrade.app.backtest_discovery import start as start_discovery
from llmtrade.app.backtest_inputs import HISTORY
from llmtrade.app.jobs import checkpoint, postmortem, weekly
from llmtrade.app.results import CheckpointResult, PostmortemResult, Usage, WeeklyResult
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.schedule import Job, JobKind


@dataclass
class Tally:
    """What this invocation ran: jobs and seconds per kind, model calls, degraded runs, and the look-ahead audit (which
    adds its seconds to `spent`)."""

    audits: Audits
    ran: Counter[str] = field(default_factory=Counter)
    spent: Counter[str] = field(default_factory=Counter)
    calls: int = 0  # a model's answers, live or replayed
    rules: int = 0  # the offline rules provider's
    degraded: int = 0

    def count(self, usage: Usage) -> None:
        self.calls += usage.calls
        self.rules += usage.rules_answers


def step(app: BacktestContainer, job: Job, *, tally: Tally) -> None:
    """Run one scheduled job as run-due would, with its look-ahead audit around it when its week is sampled."""
    tick, audited_before = time.perf_counter(), tally.spent[AUDIT]
    tally.ran[job.kind.value] += 1
    draft = tally.audits.before(app, job)
    outcome: object
    with tally.audits.missed(draft):  # a replay miss after a whole cut-off rerun: the prompts differ, said
        if job.kind is JobKind.POSTMORTEM:
            outcome = postmortem(app, week=job.week_id)
        elif job.kind is JobKind.CHECKPOINT:
            outcome = checkpoint(app, job.time, week=job.week_id, dry_run=False)
        else:
            outcome = weekly(app, week=job.week_id, dry_run=False)
    if isinstance(outcome, WeeklyResult | CheckpointResult | PostmortemResult):  # else a week already complete
        tally.count(outcome.usage)
        tally.degraded += bool(outcome.degraded)  # as its RunFinished records it
    tally.audits.after(app, job, outcome, draft)
    # The audit's own time is counted apart.
    tally.spent[job.kind.value] += time.perf_counter() - tick - (tally.spent[AUDIT] - audited_before)


def discovery_started(
    app: BacktestContainer, storage: Storage, plan: dict[date, list[Job]], todo: list[date], tally: Tally
) -> BacktestDiscovery | None:
    """The backtest's discovery (app/backtest_discovery.py), its candidates' bars fetched as backtest_prices.prefetch
    does: from the whole range's first history day, so a resume leaves out the candidates a backtest run afresh does."""
    jobs = [job for w in todo for job in plan[w]]
    if not jobs:
        return None
    first = min(j.at for week in plan.values() for j in week).date() - HISTORY
    last = max(j.at for j in jobs)
    unlisted = {s for s, day in app.listed_later.items() if day > last.date()}  # listed after the range: no bar
    weekly = min((j.at for week in plan.values() for j in week if j.kind is JobKind.WEEKLY), default=None)
    return start_discovery(
        app,
        storage,
        first=first,
        last=last,
        spent=tally.spent,
        count=tally.count,
        unlisted=unlisted,
        first_weekly=weekly,
    )
