"""`leaderboard` and `report` of books with no trading yet: the state a fresh install is in until its first weekly run.

Both refused it as bad arguments (exit 2, "no trading in these books yet ... (run `llmtrade run-weekly` first)"): a new
user's first look at the books read as a mistake of theirs, and a cron line publishing the report failed every week
until the first run. Nothing is wrong with books that have not traded (README: exit 2 is bad configuration or
arguments), so the answer is the state itself, exit 0: what the books hold (the accounts of accounts.yaml, at their
starting cash), what they lack (a weekly run, checkpoint or fill), when the schedule runs the next weekly run, and
what to do; `report` writes a page saying the same, so the file it names is there to open. Books that must hold
trading to answer at all (`leaderboard --versus NAME`) are still refused (errors.NoTradingYet is a UsageError), and
so are a backtest's: they are made by its one command, so none means it stopped before its first week, which the
refusal names."""

from __future__ import annotations

import html
from pathlib import Path

from llmtrade.analytics.records import Leaderboard
from llmtrade.app.baselines import TRIAL_ROLES
from llmtrade.app.container import Container
from llmtrade.app.evaluation_results import ReportWritten
from llmtrade.errors import NoTradingYet
from llmtrade.market.calendar import new_york_date
from llmtrade.workflows.schedule import JobKind, due_jobs, next_fires

_AFTER = (
    "The leaderboard ranks the accounts from the first weekly run on, valued from the close before it; their first "
    "daily returns come with the first close a later run values (a checkpoint, the postmortem)"
)
# What a bare run does without a key (README's quick start runs it so): no flag is needed, as "`--offline` with no
# model key" had it read.
_BARE_RUN = "with no model key set it runs offline, on the rules provider"


def nothing_to_rank(app: Container, empty: NoTradingYet) -> Leaderboard:
    """The leaderboard of the live books with no trading yet, from the refusal their figures met (`empty`): no
    standings, `start` and `end` today, `nothing_yet` what they hold and lack, `notes` when there will be figures and
    what to do. A backtest's books with nothing to rank stay refused (exit 2): their command stopped before its first
    week, and its refusal says why and what to run (app/marked_books.py `span_of`)."""
    config = app.loaded.config
    accounts = [a.id for a in config.accounts.accounts]
    today = new_york_date(app.clock.now())
    trials = sum(1 for a in config.accounts.accounts if a.role in TRIAL_ROLES)
    weekly, now = config.schedule.weekly_run, app.clock.now()
    setting = f"schedule.yaml weekly_run: {weekly.day} {weekly.time}"
    cron = "`llmtrade run-due` runs it when cron wakes it (`llmtrade schedule crontab` prints the line)"
    # This week's, while its week can still trade (until its last session's close), or the next one's; books with no
    # trading have done no weekly run. Checkpoints fire each session: 50 jobs reach past two weeks.
    late = [job for job in due_jobs(config.schedule, app.calendar, now, ()) if job.kind is JobKind.WEEKLY]
    fires = next_fires(config.schedule, app.calendar, now, 50)
    due = late[0].at if late else next((job.at for job in fires if job.kind is JobKind.WEEKLY), None)
    if late:
        when = f"This week's weekly run is due now (since {due:%A %Y-%m-%d %H:%M} New York, {setting}): {cron}"
    elif due is not None:
        when = f"The next weekly run is due {due:%A %Y-%m-%d %H:%M} New York ({setting}): {cron}"
    else:
        when = f"No weekly run is due in the weeks ahead ({setting})"
    return Leaderboard(
        source="live",
        start=today,
        end=today,
        sessions=0,
        trials=trials,
        bootstrap="",
        standings=(),
        nothing_yet=(
            f"No trading in these books yet: no weekly run, checkpoint or fill to rank; accounts.yaml's "
            f"{len(accounts)} accounts ({', '.join(accounts)}) are at their starting cash"
        ),
        next_weekly_run=due,
        notes=(f"{when}; or run `llmtrade run-weekly` now ({_BARE_RUN}). {_AFTER}",),
    )


def said(empty: Leaderboard) -> list[str]:
    """What books with no trading yet say, as lines: for the page, as the terminal has them."""
    return [empty.nothing_yet or "", *empty.notes]


def write_empty_page(empty: Leaderboard, output: Path, *, spent: str | None = None) -> ReportWritten:
    """A page saying `empty` written to `output` as a report is (app/report.py `write_page`), so a script that opens
    or publishes the file finds it, saying why there are no figures; nothing on it refers to any other file or host.
    `spent`: what runs no week holds (a `council` question before any trading) cost, said after it."""
    from llmtrade.app.report import write_page  # app/report.py imports this module

    title = f"llmtrade report: {empty.source}: nothing to rank yet"
    body = "\n".join(f"<p>{html.escape(line)}.</p>" for line in [*said(empty), *([spent] if spent else [])])
    page = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="generator" content="llmtrade report">\n'
        f"<title>{html.escape(title)}</title>\n</head>\n<body>\n<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )
    data = page.encode("utf-8")
    target = output.expanduser()
    write_page(target, data)
    return ReportWritten(path=str(target), bytes=len(data), weeks=0, accounts=0, nothing_yet=". ".join(said(empty)))
