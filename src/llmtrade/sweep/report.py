"""`llmtrade report --sweep NAME -o FILE.html`: the runs of a sweep compared, as one self-contained HTML file.

Read from the sweep's record (`llmtrade_sw_<name>`): the last SweepStarted (every run of the file, in plan
order, and the trials), each run's SweepRunFinished (its leaderboard) and its failed attempts. The page
holds the sweep's leaderboard (every trial account of every run, DSR deflated for the sweep), the Sharpe
ratios with their intervals as an inline SVG, and each run's status. Offline like `report`: inline styles and
SVG, nothing fetched; every name goes through Jinja's autoescape. Deterministic: the same record gives the
same bytes.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from llmtrade.app.backtest_lock import held_elsewhere
from llmtrade.app.books_named import SWEEPS, held
from llmtrade.app.evaluation_results import ReportWritten
from llmtrade.app.report import write_page
from llmtrade.clock import SystemClock
from llmtrade.domain import streams
from llmtrade.domain.backtests import BacktestStarted, weeks_done
from llmtrade.domain.sweeps import SweepRunFailed, SweepStarted
from llmtrade.domain.weeks import week_id_for
from llmtrade.domain.wording import bounds, counted, signed_percent
from llmtrade.errors import UsageError
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.connection import connect
from llmtrade.storage.database import DatabaseLocation, backtest_database, database_exists, locate
from llmtrade.storage.database import sibling as on_server
from llmtrade.storage.event_store import EventStore
from llmtrade.sweep.board import SweepLeaderboard, SweepRow, sweep_leaderboard
from llmtrade.sweep.driver import finished_runs, sweep_database
from llmtrade.sweep.lock import running_elsewhere

# Said first on the page of a sweep a driver runs now: its figures are those of the runs finished so far.
_WAITING = "to run: the sweep running now comes to it"
_RUNNING = "This sweep is running now ({who}): the page is a look at it part-way, not its result;"

# Each table scrolls sideways in its own box and text wraps anywhere (as the backtest report's, report.html.j2): in a
# 500 px window the leaderboard's 14 columns made the whole page 1,251 px wide (scripts/check_report.py --sweep), and a
# run's last error quoting a model's 100 KB word would have made it as wide as the word.
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sweep {{ board.name }}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin: 1em 0; display: block; max-width: 100%; overflow-x: auto }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
td.text, p { overflow-wrap: anywhere; }
.failed { color: #b00020; }
.note { color: #555; font-size: 0.9em; }
</style></head><body>
<h1>Sweep {{ board.name }}</h1>
{% if running %}<p class="failed">{{ running }}</p>
{% endif -%}
<p>{{ board.runs }} run{{ "" if board.runs == 1 else "s" }}, {{ board.finished }} finished;
trials (the deflated Sharpe's N): {{ board.trials }}.</p>
{% for note in board.notes %}<p class="note">{{ note }}</p>
{% endfor %}
{% macro cells(s) -%}
{% if s is none %}{% for _ in range(10) %}<td>n/a</td>{% endfor %}{% else -%}
<td>{{ pct(s.total_return) }}</td><td>{{ num(s.sharpe.estimate) }}</td>
<td>{{ bounds(s.sharpe.low, s.sharpe.high, num, " .. ") }}</td>
<td>{{ share(s.psr, 1) }}</td><td>{{ share(s.dsr, 1) }}</td>
<td>{{ drawdown(s.max_drawdown) }}</td><td>{{ s.trades }}</td>
<td>{{ num(s.turnover) }}</td>
<td>{{ share(s.avg_gross_exposure, 1) }}</td><td>{{ money(s.costs_usd) }}</td>
<td>{{ money(s.slippage_usd) }}</td>{% endif %}
{%- endmacro %}
{% set head %}<th>total return</th><th>Sharpe</th><th>95% interval</th><th>PSR</th>
<th>DSR (sweep)</th><th>max drawdown</th><th>trades</th><th>turnover/yr</th><th>avg gross</th><th>commissions USD</th>
<th title="estimated: traded notional x the paper broker's slippage (bps)">slippage~ USD</th>{% endset %}
{% if split %}<h2>Leaderboard: the weeks after each run's models' knowledge cutoff</h2>
<p class="note">Ranked on each row's evidence: a run split at its models' knowledge cutoff on its weeks after it, a run
wholly on or before it last, with no figures; the whole ranges are in the table after.</p>
{% else %}<h2>Leaderboard</h2>
{% endif %}<table>
<tr><th>run</th><th>account</th>{% if split %}<th>weeks ranked</th>{% endif %}{{ head }}<th>backtest</th></tr>
{% for row in board.rows %}<tr><td class="text">{{ row.label }}</td><td class="text">{{ row.account }}</td>
{% if split %}<td class="text">{{ span(row) }}</td>{% endif %}{{ cells(row.evidence) }}
<td class="text">{{ row.backtest }}</td></tr>
{% endfor %}</table>
{% if split %}<h2>Whole ranges, including weeks the models may have read about in training</h2>
<p class="note">No evidence of skill, and not ranked: each split or wholly-before run's whole range.</p>
<table>
<tr><th>run</th><th>account</th>{{ head }}<th>backtest</th></tr>
{% for row in board.rows if row.evidence_span != "whole_range" %}<tr><td class="text">{{ row.label }}</td>
<td class="text">{{ row.account }}</td>{{ cells(row.standing) }}<td class="text">{{ row.backtest }}</td></tr>
{% endfor %}</table>
{% endif %}{% if chart %}<h2>Sharpe ratios and their intervals</h2>
{{ chart | safe }}
{% endif %}
<h2>Runs</h2>
<table><tr><th>run</th><th>backtest</th><th>status</th><th>failed attempts</th><th>last error</th></tr>
{% for run in runs %}<tr><td class="text">{{ run.label }}</td><td class="text">{{ run.backtest }}</td>
<td class="text {{ 'failed' if run.status == 'failed' else '' }}">{{ run.status }}</td>
<td>{{ run.failures }}</td><td class="text">{{ run.error }}</td></tr>
{% endfor %}</table>
<p class="note">Each run's own report: llmtrade report --backtest BACKTEST -o FILE.html</p>
</body></html>
"""


def write_sweep_report(settings: Settings, name: str, output: Path) -> ReportWritten:
    """The comparison of sweep `name`'s runs written to `output` atomically. Read-only on the database.

    Raises UsageError (exit 2) for an unusable output path or a sweep that does not exist (its database is
    not created)."""
    target = output.expanduser()
    if target.is_dir() or not target.parent.is_dir():
        raise UsageError(f"report path {target}: give a file in an existing folder")
    database = sweep_database(name)  # a name no sweep can have is refused before a server is reached
    location = locate(settings)
    if not database_exists(location, database):
        there = held(settings, SWEEPS, name, "sweep")
        raise UsageError(
            f"no sweep named {name!r}: its record's database, {database}, does not exist; {there}; run `llmtrade "
            f"backtest sweep SWEEP.yaml` (a file with name: {name}) first"
        )
    with open_storage(settings, SystemClock(), location=on_server(location, database)) as storage:
        events = storage.events.read_stream(streams.SWEEP)
        finished = finished_runs(storage)
        running = running_elsewhere(storage.conn)  # the last SweepStarted is that driver's: it took the lock first
    starts = [SweepStarted.from_event(e) for e in events if e.type == SweepStarted.event_type()]
    if not starts:
        raise UsageError(f"sweep {name!r} has not started a run yet")
    started = starts[-1]
    failures = [SweepRunFailed.from_event(e) for e in events if e.type == SweepRunFailed.event_type()]
    final = {f.run_id for f in failures if f.final} - set(finished)
    labels = dict(zip(started.run_ids, started.labels, strict=False))  # none in a record made before they were kept
    runs = []
    stopped = going = 0
    for run_id in started.run_ids:
        mine = [f for f in failures if f.run_id == run_id]
        done = finished.get(run_id)
        backtest = done.backtest if done else (mine[-1].backtest if mine else f"{started.name}-{run_id[:12]}")
        if done:
            status = "finished"
        elif mine and mine[-1].final:
            status = "failed"
        else:
            status = _unfinished(location, backtest, retried=bool(mine), sweep_running=running is not None)
            going += status.startswith("running")
            stopped += not status.startswith("running") and status not in ("not run", _WAITING)
        runs.append(
            {
                # The file's name for it now (an override renamed, its values kept, is the same run), else as recorded.
                "label": labels.get(run_id) or (done.label if done else (mine[-1].label if mine else run_id[:12])),
                "backtest": backtest if status != "not run" else "",
                "status": status,
                "failures": len(mine),
                "error": mine[-1].error if mine and not done else "",
            }
        )
    board = sweep_leaderboard(
        started.name,  # as recorded: `name` may spell it otherwise (case, - or _: one database), a sweep never run
        started.run_ids,
        started.trials,
        finished,
        failed=len(final),
        stopped=stopped,
        running=going,
        earlier=started.earlier,
        labels=labels,
    )
    now = (
        None
        if running is None
        else f"{_RUNNING.format(who=running)} {board.finished} of {counted(board.runs, 'run')} finished so far"
    )
    data = render(board, runs, now).encode("utf-8")
    write_page(target, data)  # atomic, and through a pipe or device (-o /dev/stdout), as `llmtrade report`'s
    # The runs the page compares (the plan's finished ones: not one run before, nor one of an earlier plan) and each
    # one's weeks (its range's Wednesdays): the sweep's page has no weeks of its own.
    compared = [finished[run_id] for run_id in started.run_ids if run_id in finished]
    weeks = sum((week_id_for(run.end) - week_id_for(run.start)).days // 7 + 1 for run in compared)
    return ReportWritten(
        path=str(target),
        bytes=len(data),
        weeks=weeks,
        accounts=len(board.rows),
        runs=len(compared),
        uncompared=None if compared else _states(runs),
    )


def _states(runs: list[dict[str, Any]]) -> str:
    """The runs' states, counted ("1 failed, 2 not run"), for a page that compares none of them."""
    kinds: Counter[str] = Counter()
    for run in runs:
        status = str(run["status"])
        if status.startswith("running"):
            kinds["running now"] += 1
        elif status.startswith("stopped part-way"):
            kinds["stopped part-way"] += 1
        elif status.startswith("failed, to retry"):
            kinds["failed, to retry"] += 1
        elif status in ("failed", "not run"):
            kinds[status] += 1
        else:  # waiting for the sweep running now
            kinds["to run by the sweep running now"] += 1
    return ", ".join(f"{n} {kind}" for kind, n in kinds.items())


def _unfinished(location: DatabaseLocation, backtest: str, *, retried: bool, sweep_running: bool = False) -> str:
    """The status of a run of the plan with no result and no final failure, from its own books: "not run" (no
    database, or no week begun), else how far it got and that the sweep's rerun resumes it. A sweep stopped part-way
    (Ctrl-C, a timeout, a reboot) left its run in the middle of its range said "not run", as if the rerun would start
    it afresh and its weeks were not there. While the sweep runs (`sweep_running`), a run its worker holds is said
    running, and one not begun yet waits for that sweep: "stopped part-way ... run the sweep again" was said of the
    run in progress, and the rerun it asked for is refused while the sweep runs. Read-only: one query on the run's
    database, none made."""
    database = backtest_database(backtest)
    if not database_exists(location, database):
        if sweep_running:
            return _WAITING
        return "failed, to retry: run the sweep again" if retried else "not run"
    import psycopg.errors

    with connect(on_server(location, database).url) as conn:
        try:
            stream = EventStore(conn, SystemClock()).read_stream(streams.BACKTEST)
        except psycopg.errors.UndefinedTable:  # made, not migrated yet: nothing of it ran
            stream = []
        held = held_elsewhere(conn)  # app/backtest_lock.py: a worker is running this run's backtest now
    begun = [BacktestStarted.from_event(e) for e in stream if e.type == BacktestStarted.event_type()]
    if not begun:
        if held:
            return "running: no week done yet"
        if sweep_running:
            return _WAITING
        return "failed, to retry: run the sweep again" if retried else "not run"
    planned = (begun[-1].end - begun[-1].start).days // 7 + 1
    done = len(weeks_done(stream))
    if held:
        return f"running: {done} of {counted(planned, 'week')} done"
    if sweep_running:
        return f"{done} of {counted(planned, 'week')} done, to resume: the sweep running now comes to it"
    return f"stopped part-way: {done} of {counted(planned, 'week')} done; run the sweep again to resume it"


def render(board: SweepLeaderboard, runs: list[dict[str, Any]], running: str | None = None) -> str:
    """The page: autoescaped; the chart is our own SVG (report/charts.py)."""
    import jinja2  # lazy: only the report renders HTML

    from llmtrade.report import charts
    from llmtrade.report.render import drawdown, escaped, share

    # The chart is of what the table ranks: each row's evidence (sweep/board_cutoff.py), none for a row of none.
    named = [
        row.evidence.model_copy(update={"name": f"{row.backtest} {row.account}"})
        for row in board.rows
        if row.evidence is not None
    ]
    split = any(row.evidence_span != "whole_range" for row in board.rows)
    title = "annualised Sharpe ratio, 95% interval" + (", weeks after the models' knowledge cutoff" if split else "")
    chart = charts.interval_chart(named, "sharpe", title, "sweep-sharpe")
    template = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined).from_string(_PAGE)
    # A failed run's last error quotes the model: the characters `report` shows as escapes, shown so here too.
    return escaped(
        template.render(
            board=board,
            runs=runs,
            running=running,
            chart=chart,
            split=split,
            span=_span,
            pct=_pct,
            num=_num,
            bounds=bounds,
            share=share,
            drawdown=drawdown,
            money=_money,
        )
    )


def _span(row: SweepRow) -> str:
    """Which weeks a ranked row is over."""
    if row.evidence_span == "after_cutoff":
        return f"after {row.evidence_from}"
    if row.evidence is None:
        return "none: every week on or before its models' knowledge cutoff"
    return "whole range"


def _pct(value: float | None) -> str:
    # A return is a change: signed, as the leaderboard and `report` show it.
    return "n/a" if value is None else signed_percent(value, 2)


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value, 2) + 0.0:,.2f}"  # as `report` prints USD: never -0.00


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value, 2) + 0.0:.2f}"
