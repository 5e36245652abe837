"""`llmtrade report`: the leaderboard and every recorded week as one self-contained HTML file.

`build_report` reads the weeks from the event store (read-only); `save_report` renders them with the
leaderboard (`report/render.py`) and writes the file atomically; `write_report` is the job the command
runs: both, on the live books or a backtest's database.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from llmtrade.analytics import draws
from llmtrade.analytics.records import Leaderboard
from llmtrade.app.books_empty import nothing_to_rank, write_empty_page
from llmtrade.app.container import Container
from llmtrade.app.evaluation_results import ReportWritten
from llmtrade.app.report_controls import TYPES as CONTROL_TYPES
from llmtrade.app.report_controls import control_lines
from llmtrade.app.report_outside import outside_cost
from llmtrade.app.report_partial import marked
from llmtrade.app.report_records import AccountLine, OutsideCost, Report
from llmtrade.app.report_weeks import TYPES, week_report
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.runs import RunStarted
from llmtrade.domain.wording import counted
from llmtrade.errors import NoTradingYet, UsageError
from llmtrade.exits import path_error
from llmtrade.market.calendar import week_id_of
from llmtrade.readers import reader_left
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.snapshot_reads import one_snapshot


def build_report(app: Container, storage: Storage, leaderboard: Leaderboard) -> Report:
    """Every week with recorded events in `storage`, oldest first, and the configured accounts.

    Reads only, a week at a time: years of books hold hundreds of MB of model calls (prompts and answers), and a
    report read whole held them all at once (1.5 GB at 439 weeks). Events without a week (council, market fetches)
    are not part of any week: the model calls of a weekless run no week holds are counted apart (`Report.outside`).
    The controls (halts, the kill switch, abandoned plans) are read apart: the kill switch has no week. The week not
    done (an unfinished backtest's, the live one with no postmortem) is marked as the leaderboard's note says of it
    (app/report_partial.py)."""
    accounts = app.loaded.config.accounts.accounts
    slippage = app.loaded.config.accounts.paper.slippage_bps
    weekless = _weekless_starts(storage)
    discovered = _discover_runs(weekless)
    weeks = []
    given: set[str] = set()  # the weekless runs a week's rows hold
    for week_id in storage.events.week_ids(TYPES):
        events = _week_events(storage, week_id, discovered)
        given.update(e.run_id for e in events if e.week_id is None and e.run_id is not None)
        weeks.append(week_report(week_id, events, slippage_bps=slippage))
    return Report(
        source=leaderboard.source,
        accounts=tuple(
            AccountLine(account_id=a.id, name=a.name, role=a.role.value, starting_cash=a.starting_cash)
            for a in accounts
        ),
        weeks=marked(storage.events, leaderboard, weeks),
        controls=control_lines(storage.events.read(type=list(CONTROL_TYPES))),
        outside=outside_cost(storage.events, [e for e in weekless if e.run_id not in given]),
    )


def _week_events(storage: Storage, week_id: date, discovered: dict[date, list[str]]) -> list[StoredEvent]:
    """The week's events, with the events of each run that made some of them, or is a discover run started in it (see
    `_discover_runs`), but recorded no week of its own."""
    events = storage.events.read(week_id=week_id, type=list(TYPES))
    weekless = _weekless_runs(storage, events, discovered.get(week_id, []))
    return sorted([*events, *weekless], key=lambda e: e.id) if weekless else events


def _weekless_runs(storage: Storage, events: Sequence[StoredEvent], discover: Sequence[str]) -> list[StoredEvent]:
    """The events (of the week's kinds) of each run that made some of `events` or is one of the `discover` runs, but
    whose RunStarted has no week: a discover run before the weekly run, whose picker's call a backtest counts in the
    week it comes before and the live books record with no week. Left out, the week's cost row counted a call of a run
    its list of runs did not hold (a backtest's) or missed the call (live), and a discovery that failed was in no
    week's list, so the page's runs that did not finish cleanly never named it. A run started in another week is that
    week's to show."""
    started = {e.run_id for e in events if e.type == RunStarted.event_type()}
    made = {e.run_id for e in events if e.run_id is not None}
    found: list[StoredEvent] = []
    for run_id in sorted((made | set(discover)) - started):
        own = storage.events.read(run_id=run_id, type=list(TYPES))
        if any(e.type == RunStarted.event_type() and e.week_id is None for e in own):
            found.extend(e for e in own if e.week_id is None)
    return found


def _spent(outside: OutsideCost | None) -> str | None:
    """What the runs no week holds cost, for the page of books with nothing to rank (no cost table to hold it)."""
    if outside is None:
        return None
    c = outside.cost
    rules = f", {counted(c.rules_answers, 'offline rules answer')} ($0)" if c.rules_answers else ""
    return (
        f"Model calls of runs no week holds ({', '.join(outside.runs)}): {counted(c.calls, 'model call')}, "
        f"{c.cost_usd:.4f} USD{rules}"
    )


def _weekless_starts(storage: Storage) -> list[StoredEvent]:
    """The RunStarted events recorded with no week (a `discover`, `council` or live `ask` run), oldest first: their
    starts are few and small, read once for the whole report."""
    return [e for e in storage.events.read(type=RunStarted.event_type()) if e.week_id is None and e.run_id is not None]


def _discover_runs(weekless: Sequence[StoredEvent]) -> dict[date, list[str]]:
    """The discover runs among the `weekless` starts, by the week they started in (a live `discover`, or run-due's
    before the weekly run): a week's discovery, whose picker's call its cost row counts."""
    weeks: dict[date, list[str]] = {}
    for event in weekless:
        if event.payload.get("command") == "discover":
            weeks.setdefault(week_id_of(event.occurred_at), []).append(event.run_id)
    return weeks


def save_report(report: Report, leaderboard: Leaderboard, output: Path) -> ReportWritten:
    """Render `report` and `leaderboard` to `output`, atomically: a temporary file in the same folder,
    then a rename, so a reader never sees half a report and a failed write leaves the old file.

    Raises UsageError (exit 2) naming the path when its folder is missing or not writable, or the path
    is a folder (`write_page` says how pipes, devices and links are written); a write that fails on a full disk is
    temporary (exit 75: `exits.path_error`)."""
    target = output.expanduser()
    _check_target(target)
    from llmtrade.report.render import render_report  # lazy: jinja2 and matplotlib only for this command

    data = render_report(report, leaderboard).encode("utf-8")
    write_page(target, data)
    return ReportWritten(
        path=str(target),
        bytes=len(data),
        weeks=len(report.weeks),
        accounts=len(report.accounts),
        unfinished=leaderboard.unfinished,
        unfinished_week=leaderboard.unfinished_week,
    )


# `-o -`: standard output, as Unix tools take it (a file named "-" is `-o ./-`'s no more: give its folder, /x/-).
STDOUT = Path("-")


def write_page(target: Path, data: bytes) -> None:
    """`data` to `target` (a checked path, see `_check_target`): a temporary file in the same folder, then a rename.

    STDOUT (`-o -`) is this process's standard output: it was a file named "-" in the current folder. A path that is
    not a regular file once links are followed (`-o /dev/stdout`, a FIFO, a device) is written through, never
    replaced: renaming over it would put a file where the pipe or device was (as root, /dev/null itself). A symbolic
    link to a file keeps the link: the file it names is the one replaced."""
    # A reader that stops reading (`report -o - | head -c 100`) took what it wanted: no error, as readers.py has it
    # for every command's output (it said "cannot write the report to standard output: Broken pipe", exit 1).
    if target == STDOUT:
        try:
            sys.stdout.flush()  # anything printed before goes first
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        except BrokenPipeError:
            reader_left(sys.stdout)
        except OSError as exc:
            raise path_error("cannot write the report to standard output", exc) from exc
        return
    if target.exists() and not target.is_file():
        try:
            with open(target, "wb") as stream:
                stream.write(data)
        except BrokenPipeError as exc:
            if not is_stdout(target):  # a FIFO whose reader died: the page was not delivered
                raise path_error(f"cannot write the report to {target}", exc) from exc
            reader_left(sys.stdout)
        except OSError as exc:
            raise path_error(f"cannot write the report to {target}", exc) from exc
        return
    if target.is_symlink():
        target = Path(os.path.realpath(target))
        _check_target(target)
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    except OSError as exc:
        raise path_error(f"cannot write the report to {target}", exc) from exc
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o644)  # mkstemp makes it 0600; a report is meant to be opened and shared
        os.replace(temporary, target)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise path_error(f"cannot write the report to {target}", exc) from exc


def is_stdout(path: Path) -> bool:
    """Whether `path` is standard output (`-`), or the file this process's stdout writes to (`/dev/stdout`,
    `/proc/self/fd/1`, the file a shell redirected stdout to)."""
    if path == STDOUT:
        return True
    try:
        named, out = os.stat(path), os.fstat(sys.stdout.fileno())
    except (OSError, ValueError):  # no such file, or a stdout without a descriptor (a test runner's)
        return False
    return (named.st_dev, named.st_ino) == (out.st_dev, out.st_ino)


def _check_target(target: Path) -> None:
    if target == STDOUT:
        # Closed (`>&-`): Python's sys.stdout is None, and the page, built whole first, was AttributeError's traceback.
        if sys.stdout is None:
            raise UsageError(
                "report path -: standard output is closed, so the page has nowhere to go; give -o FILE, or run it "
                "with standard output open"
            )
        return
    folder = target.parent
    if target.is_dir():
        raise UsageError(f"report path {target} is a folder: give a file name, e.g. {target / 'report.html'}")
    if not folder.is_dir():
        raise UsageError(f"report path {target}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"report path {target}: folder {folder} is not writable")


def write_report(app: Container, *, backtest: str | None, output: Path) -> ReportWritten:
    """The `report` job: the leaderboard of the live books or of the backtest named `backtest` (see
    `app/leaderboard.py books`) and their weeks, written to `output` (see `save_report`); for the live books with no
    trading yet, a page saying so, when there will be some and what to do (app/books_empty.py).

    Reads only: storage is opened as a draft view, so nothing the leaderboard's valuations do is kept.
    Raises UsageError (exit 2) for an unusable output path (before any work) or an unknown backtest."""
    _check_target(output.expanduser())  # before any work: a wrong path is the commonest mistake
    from llmtrade.app.leaderboard import books, build_leaderboard, with_sweep_note  # lazy: numpy and arch come with it

    reader, source = books(app, backtest)
    # arch's import (some 1.2 CPU seconds) and the draws made on the other core while the books are read.
    # One snapshot (storage/snapshot_reads.py): the page's weeks and its leaderboard read the same state of the books.
    with (
        draws.drawn_apart(draws.import_pending()),
        reader.storage(persist=False) as storage,
        one_snapshot(storage.conn, backtest is not None),
    ):
        try:
            leaderboard = with_sweep_note(app, build_leaderboard(reader, storage, source=source), backtest)
        except NoTradingYet as empty:
            if backtest is not None:  # as the leaderboard: a backtest with nothing to rank is refused, saying why
                raise
            # Calls a `council` question made before any trading are billed too: said on the page that has no table.
            spent = outside_cost(storage.events, _weekless_starts(storage))
            return write_empty_page(nothing_to_rank(app, empty), output, spent=_spent(spent))
        report = build_report(reader, storage, leaderboard)
    return save_report(report, leaderboard, output)
