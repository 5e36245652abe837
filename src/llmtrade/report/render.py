"""The report as one HTML page: `render_report(report, leaderboard) -> str`.

Self-contained and offline: styles are inline, charts are inline SVG (`report/charts.py`), and nothing
refers to another file or host (no src, no external href, no url()). Every text a model wrote (theses,
rationales, reasons, reflections) and every name goes through Jinja's autoescape, so it is shown, never
run. Every cited event has an anchor `#event-<id>` on the line that shows it, with the id visible.
Deterministic: no clock, no randomness; the same inputs give the same bytes.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

from llmtrade.analytics.records import Interval, Leaderboard, more_shown, weeks_shown
from llmtrade.app import report_controls, report_runs
from llmtrade.app.report_records import FillLine, Report, ReviewCell, RunLine, WeekReport
from llmtrade.domain.wording import counted, fall, signed_percent
from llmtrade.market.calendar import NEW_YORK
from llmtrade.report import charts

TEMPLATE = "report.html.j2"
# What HTML forbids in a document and a model may write: C0 controls but whitespace, DEL, C1 controls and the
# noncharacters (each a parse error, "control-character-in-input-stream"). An ESC or a BEL in a pitch made the page an
# invalid document; each is shown as its escape (\x1b), as the terminal shows it (console.shown). NUL and lone
# surrogates never get here: the event store keeps them as U+FFFD. And the bidirectional embeddings, overrides and
# isolates: a U+202E in an error a note quotes showed the rest of the note, our words, reversed.
_ESCAPED = re.compile(
    "[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ufdd0-\ufdef\u202a-\u202e\u2066-\u2069"
    + "".join(chr(plane << 16 | 0xFFFE) + chr(plane << 16 | 0xFFFF) for plane in range(17))
    + "]"
)


@cache
def _environment() -> Any:
    import jinja2  # lazy: only the report command renders HTML

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent),
        autoescape=True,  # every value is escaped unless marked safe; only our own SVG is
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(
        pct=_pct,
        share=share,
        drawdown=drawdown,
        money=_money,
        dollars=dollars,
        num=_num,
        interval=_interval,
        weeks=weeks_shown,  # as the terminal shows them: whole weeks up, "> 5200" past any useful time
        weeks_more=more_shown,  # "closed" in a closed period (no week can be added), as the terminal shows it
        counted=counted,
        outcome=report_runs.shown,
    )
    return environment


def _pct(value: float | None, digits: int = 2) -> str:
    """A change (a return): signed, and zero without a sign, as the terminal prints it (`signed_percent`)."""
    return "n/a" if value is None else signed_percent(value, digits)


def share(value: float | None, digits: int = 2) -> str:
    """A fraction that is a level, not a change (a rate, a volatility, an exposure): no sign, unlike `_pct`."""
    return "n/a" if value is None else f"{round(100 * value, digits) + 0.0:.{digits}f}%"


def drawdown(value: float | None, digits: int = 2) -> str:
    """A drawdown, stored as a positive fraction of the peak, shown as the fall it is: -12.34% (0.00% for none; a fall
    too small for `digits` with the decimals that show it, domain/wording.py `fall`)."""
    return "n/a" if value is None else fall(value, digits)


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value, 2) + 0.0:,.2f}"


def dollars(value: float, digits: int = 6) -> str:
    """Model dollars to `digits` decimals, and a cost too small for them with the decimals that show it (its first
    significant digit), as a small drawdown is shown: a small model's week of $0.0000004 read 0.000000, as a week of no
    model at all. $0 is 0 to `digits` decimals."""
    shown = f"{value:,.{digits}f}"  # grouped, as the page's other dollars
    if value == 0 or float(shown.replace(",", "")) != 0:
        return shown
    return f"{value:.{-math.floor(math.log10(abs(value)))}f}"


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{round(value, digits) + 0.0:.{digits}f}"


def _interval(interval: Interval, percent: bool = False) -> str:
    show = _pct if percent else _num
    if interval.estimate is None:
        return "n/a"
    if interval.low is None or interval.high is None:  # too little data: said, as the terminal says it
        return f"{show(interval.estimate)} [n/a]"
    return f"{show(interval.estimate)} [{show(interval.low)}, {show(interval.high)}]"


def review_matrix(week: WeekReport) -> tuple[list[str], list[str], dict[tuple[str, str], ReviewCell]]:
    """(reviewers, reviewed PMs, (reviewer, reviewed) -> review), names sorted: who scored whom."""
    cells = {(r.reviewer, r.reviewed): r for r in week.reviews}
    reviewers = sorted({r.reviewer for r in week.reviews})
    reviewed = sorted({r.reviewed for r in week.reviews})
    return reviewers, reviewed, cells


def run_counts(week: WeekReport) -> list[str]:
    """The week's runs counted by command and outcome, in the order first seen: "checkpoint: 20 finished"."""
    counts: dict[str, dict[str, int]] = {}
    for run in week.runs:
        outcomes = counts.setdefault(run.command, {})
        label = report_runs.shown(run.outcome) + ("" if run.redone else " (nothing redone)")
        outcomes[label] = outcomes.get(label, 0) + 1
    return [f"{command}: " + ", ".join(f"{n} {outcome}" for outcome, n in o.items()) for command, o in counts.items()]


def troubled(report: Report) -> list[RunLine]:
    """Every run that did not finish cleanly (failed, degraded, or no end recorded), oldest first."""
    return [run for week in report.weeks for run in week.runs if run.outcome != "finished"]


def _resolved(report: Report) -> set[int]:
    """The RunStarted ids of troubled runs that a later run of the same job finished (report_runs.unresolved)."""
    runs = [run for week in report.weeks for run in week.runs]
    still = {run.event_id for run in report_runs.unresolved(runs)}
    return {run.event_id for run in troubled(report) if run.outcome != "degraded" and run.event_id not in still}


def after_the_books(report: Report, leaderboard: Leaderboard) -> list[FillLine]:
    """The fills the weeks list that the leaderboard has not valued: filled on a day after its last close (the week
    in progress, whose next close no run has seen yet)."""
    return [
        fill
        for week in report.weeks
        for fill in week.fills
        if datetime.fromisoformat(fill.filled_at).astimezone(NEW_YORK).date() > leaderboard.end
    ]


def gaps(report: Report) -> dict[date, list[date]]:
    """The weeks between the recorded ones that recorded nothing (neither run nor said not run: books older than the
    WeekNotRun record, or copied in part), by the recorded week they come before: the list says them, no silent
    jump."""
    before: dict[date, list[date]] = {}
    weeks = [week.week_id for week in report.weeks]
    for earlier, later in pairwise(weeks):
        missing = [earlier + timedelta(days=7 * n) for n in range(1, (later - earlier).days // 7)]
        if missing:
            before[later] = missing
    return before


def render_report(report: Report, leaderboard: Leaderboard) -> str:
    """The whole page as a string (UTF-8 text, ends with a newline)."""
    from markupsafe import Markup  # installed with jinja2

    def safe(svg: str | None) -> Markup | None:
        # Our own matplotlib SVG (its text escaped by matplotlib), never model text.
        return Markup(svg) if svg is not None else None

    standings = leaderboard.standings
    figures = {
        "equity": safe(charts.equity_chart(leaderboard.curves)),
        "drawdown": safe(charts.drawdown_chart(leaderboard.curves)),
        "sharpe": safe(charts.interval_chart(standings, "sharpe", "Sharpe (annualised), 95% interval", "sharpe")),
        "excess_flat": safe(
            charts.interval_chart(
                standings, "excess_vs_flat", "Excess return vs FLAT (% a year)", "xflat", percent=True
            )
        ),
        "excess_spy": safe(
            charts.interval_chart(standings, "excess_vs_spy", "Excess return vs SPY (% a year)", "xspy", percent=True)
        ),
        "cost": safe(charts.cost_chart(report.weeks)),
    }
    # Every call the books hold: the weeks' and the weekless runs' no week holds (Report.outside).
    costs = [w.cost for w in report.weeks] + ([report.outside.cost] if report.outside is not None else [])
    total_cost = math.fsum(c.cost_usd for c in costs)  # unrounded: weeks of $0.0000004 are no $0
    slippages = [w.trading.slippage_usd for w in report.weeks]
    trading = {
        "fills": sum(w.trading.fills for w in report.weeks),
        "commissions": math.fsum(w.trading.commissions_usd for w in report.weeks),
        # Unknown for any week unknown: a broker's slippage not measured is not zero.
        "slippage": None if None in slippages else math.fsum(s for s in slippages if s is not None),
    }
    gaps_before = gaps(report)
    page = (
        _environment()
        .get_template(TEMPLATE)
        .render(
            report=report,
            board=leaderboard,
            figures=figures,
            total_cost=total_cost,
            total_calls=sum(c.calls for c in costs),
            total_rules=sum(c.rules_answers for c in costs),
            trading=trading,
            review_matrix=review_matrix,
            run_counts=run_counts,
            troubled=troubled(report),
            resolved=_resolved(report),
            pending=after_the_books(report, leaderboard),
            not_run=[week.week_id for week in report.weeks if week.not_run is not None],
            gaps_before=gaps_before,
            unrecorded=[week for missing in gaps_before.values() for week in missing],
            halted=report_controls.halted(report.controls),
            switched_off=report_controls.switched_off(report.controls),
        )
    )
    return escaped(page)


def escaped(page: str) -> str:
    """`page` with each character of `_ESCAPED` as its escape (\\x1b, \\u202e). Over the whole page: joined lists and
    attributes hold model text too; our own text and SVG hold none of these."""
    return _ESCAPED.sub(lambda m: m.group().encode("unicode_escape").decode(), page)
