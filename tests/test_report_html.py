"""The HTML report's page: self-contained (nothing fetched), deterministic, model text escaped, every cited
event anchored; built from a Leaderboard and a Report made by hand (no database)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date, timedelta
from functools import cache
from html.parser import HTMLParser
from pathlib import Path

import llmtrade
from llmtrade.analytics.records import Curve, Interval, Leaderboard, Period, Standing
from llmtrade.app.report_records import (
    AccountLine,
    ChairmanLine,
    CheckpointLine,
    ControlLine,
    FillLine,
    OrderLine,
    PitchLine,
    PostmortemLine,
    RankLine,
    Report,
    ReviewCell,
    RunLine,
    SizedLine,
    WeekCost,
    WeekReport,
    WeekTrading,
)
from llmtrade.report.charts import drawdowns
from llmtrade.report.render import render_report

START = date(2024, 1, 3)
NAMES = ("acct_1", "acct_2", "FLAT", "SPY", "EQUAL_WEIGHT")
EVIL = '<script>alert("pwned")</script>'


def _sessions(n: int) -> tuple[date, ...]:
    days, day = [], START
    while len(days) < n:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return tuple(days)


def curve(name: str, drift: float, n: int = 40) -> Curve:
    sessions = _sessions(n)
    equity = tuple(round(100_000 * (1 + drift * i + (0.004 if i % 7 == 3 else 0.0)), 2) for i in range(n))
    kind = "account" if name.startswith("acct") else "baseline"
    return Curve(name=name, kind=kind, sessions=sessions, equity=equity, gross_exposure=tuple(0.1 for _ in sessions))


def standing(name: str, sharpe: float | None) -> Standing:
    interval = Interval(
        estimate=sharpe, low=None if sharpe is None else sharpe - 1.5, high=None if sharpe is None else sharpe + 1.5
    )
    excess = Interval(estimate=0.01, low=-0.05, high=0.07)
    return Standing(
        name=name,
        kind="account" if name.startswith("acct") else "baseline",
        sessions=39,
        weeks=7.8,
        total_return=0.012,
        cagr=0.08,
        volatility=0.11,
        sharpe=interval,
        sortino=0.9,
        max_drawdown=0.031,
        max_drawdown_sessions=9,
        calmar=2.6,
        trades=7,
        hit_rate=0.57,
        turnover=3.2,
        avg_gross_exposure=0.07,
        costs_usd=12.5,
        excess_vs_flat=excess,
        excess_vs_spy=Interval(estimate=None, low=None, high=None),
        psr=0.61,
        dsr=0.33,
        weeks_needed=140.0,
        weeks_more=132.2,
        slippage_usd=4.25,
    )


def leaderboard() -> Leaderboard:
    standings = tuple(standing(name, 0.4 * i if name != "SPY" else None) for i, name in enumerate(NAMES))
    drifts = {"acct_1": 0.0004, "acct_2": -0.0003, "FLAT": 0.0, "SPY": 0.0006, "EQUAL_WEIGHT": 0.0002}
    return Leaderboard(
        source="backtest demo",
        start=START,
        end=_sessions(40)[-1],
        sessions=40,
        trials=2,
        bootstrap="stationary bootstrap (arch), mean block 5 sessions, 2000 resamples, seed 7",
        standings=standings,
        periods=(Period(label="after knowledge cutoff", start=START, end=_sessions(40)[-1], standings=standings[:2]),),
        curves=tuple(curve(name, drifts[name]) for name in NAMES),
        notes=("every interval contains zero",),
    )


def week(week_id: date, first_id: int, thesis: str = "Trend up.", cost: float = 0.25, rules: int = 0) -> WeekReport:
    i = first_id
    return WeekReport(
        week_id=week_id,
        runs=(
            RunLine(
                event_id=i + 11,
                run_id="r1",
                command="run-weekly",
                arguments={"week": str(week_id)},
                started_at=f"{week_id}T08:00:00-05:00",
                mode="offline",
                outcome="finished",
                end_event_id=i + 12,
                detail=(),
            ),
            RunLine(
                event_id=i + 13,
                run_id="r2",
                command="checkpoint",
                arguments={"week": str(week_id), "time": "12:00"},
                started_at=f"{week_id}T12:00:00-05:00",
                mode="offline",
                outcome="failed",
                end_event_id=i + 14,
                detail=(f"MarketDataError: {thesis}",),
            ),
        ),
        pitches=(
            PitchLine(
                event_id=i,
                pm="gpt",
                model="m/gpt",
                account_id="acct_1",
                instrument="SPY",
                direction="LONG",
                conviction=2,
                thesis=(thesis,),
            ),
            PitchLine(
                event_id=i + 1,
                pm="grok",
                model="m/grok",
                account_id="acct_2",
                instrument="TLT",
                direction="SHORT",
                conviction=-1,
                thesis=("Rates up.",),
            ),
        ),
        failed_pitches=(),
        reviews=(
            ReviewCell(
                event_id=i + 2,
                reviewer="gpt",
                reviewed="grok",
                label="Pitch A",
                mean_score=6.5,
                argument_against=thesis,
            ),
            ReviewCell(
                event_id=i + 3,
                reviewer="grok",
                reviewed="gpt",
                label="Pitch A",
                mean_score=7.25,
                argument_against="noise",
            ),
        ),
        ranking=(
            RankLine(event_id=i + 4, pm="gpt", rank=1, mean_score=7.25, reviews=1),
            RankLine(event_id=i + 4, pm="grok", rank=2, mean_score=6.5, reviews=1),
        ),
        chairman=ChairmanLine(
            event_id=i + 5,
            model="m/gem",
            account_id="acct_5",
            instrument="SPY",
            direction="LONG",
            conviction=1,
            rationale=thesis,
            dissent=("too early",),
        ),
        sized=(
            SizedLine(
                event_id=i + 6,
                account_id="acct_1",
                instrument="SPY",
                target_qty=30,
                price=470.1,
                approved=True,
                reason="long 30",
                occasion="weekly run",
            ),
        ),
        orders=(
            OrderLine(
                event_id=i + 7,
                account_id="acct_1",
                client_order_id="lt-1",
                symbol="SPY",
                side="buy",
                qty=30,
                intent="open",
                status="accepted",
                detail="queued",
            ),
        ),
        fills=(
            FillLine(
                event_id=i + 8,
                account_id="acct_1",
                client_order_id="lt-1",
                symbol="SPY",
                side="buy",
                qty=30,
                price=470.5,
                commission=0.0,
                filled_at="2024-01-03T09:30:00-05:00",
            ),
        ),
        checkpoints=(
            CheckpointLine(
                event_id=i + 9,
                day=week_id,
                time="12:00",
                account_id="acct_1",
                instrument="SPY",
                action="STAY",
                conviction_before=2,
                conviction_after=2,
                decided_by="owner",
                invalidation_triggered=False,
                reason=thesis,
            ),
        ),
        postmortems=(
            PostmortemLine(
                event_id=i + 10,
                account_id="acct_1",
                instrument="SPY",
                direction="LONG",
                start_equity=100_000,
                end_equity=100_300,
                week_pnl=300,
                week_return=0.003,
                instrument_return=0.01,
                direction_right=True,
                held=("rsi_14 < 75",),
                broken=(),
                got_right=thesis,
                got_wrong="timing",
                lessons=(thesis,),
            ),
        ),
        cost=WeekCost(
            calls=19,
            rules_answers=rules,
            failed_calls=0,
            prompt_tokens=1000,
            completion_tokens=500,
            cost_usd=cost,
            unpriced_calls=0,
        ),
        trading=WeekTrading(fills=1, traded_usd=14_115.0, commissions_usd=1.0, slippage_usd=7.06),
    )


def report(thesis: str = "Trend up.") -> Report:
    return Report(
        source="backtest demo",
        accounts=(AccountLine(account_id="acct_1", name="GPT", role="pm", starting_cash=100_000.0),),
        weeks=(week(START, 100, thesis), week(START + timedelta(days=7), 200, thesis, cost=0.5)),
        controls=(
            ControlLine(event_id=900, at="2024-01-10T08:00-05:00", kind="halted", account_id="acct_1", detail=thesis),
        ),
    )


class _Tags(HTMLParser):
    """Every start tag's attributes, and the text of <script> and <style> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in = None


def parsed(html: str) -> _Tags:
    tags = _Tags()
    tags.feed(html)
    return tags


def test_the_command_line_starts_without_the_reports_libraries() -> None:
    """`llmtrade --help` and `llmtrade report --help` load neither jinja2 nor matplotlib (start-up time)."""
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from llmtrade.cli import app\n"
        "for args in (['--help'], ['report', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('jinja2', 'matplotlib', 'numpy')"
        " or m.startswith('llmtrade.report')))\n"
    )
    here = {**os.environ, "PYTHONPATH": str(Path(llmtrade.__file__).resolve().parents[1])}  # this checkout
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=here)
    assert done.stdout.strip() == "[]"


@cache
def _page() -> str:
    """The page of `report()` and `leaderboard()`, rendered once for the tests that only read it (some 0.2 s of
    matplotlib a rendering); that the same inputs give the same bytes is test_the_same_inputs_give_the_same_bytes's,
    from renderings of their own."""
    return render_report(report(), leaderboard())


def test_the_page_refers_to_nothing_outside_itself() -> None:
    html = _page()
    tags = parsed(html)
    references = [
        (tag, name, value)
        for tag, attrs in tags.tags
        for name, value in attrs.items()
        if name in ("src", "href", "xlink:href", "srcset", "data", "action", "poster", "background")
    ]
    assert references, "the page links its event ids and weeks"
    assert [r for r in references if not (r[2] or "").startswith("#")] == []
    assert {tag for tag, _ in tags.tags}.isdisjoint({"script", "link", "iframe", "img", "object", "embed"})
    urls = re.findall(r"url\(\s*['\"]?([^)'\"]*)", html)
    assert [u for u in urls if not u.startswith("#")] == []
    # No host named anywhere but an SVG namespace (an identifier, never fetched).
    hosts = re.findall(r"(?:https?:)?//[\w.-]+\.\w+[^\s\"'<>]*", html)
    assert [h for h in hosts if h != "http://www.w3.org/2000/svg"] == []
    assert "@import" not in html


def test_a_models_word_without_a_space_wraps_in_its_cell() -> None:
    """A model's 100 KB answer without a space (it happens: a base64 blob, a run of dashes) is one word: a table cell's
    least width is its longest word, so the pitches' table was as wide as the word, some 700,000 pixels, and every
    other column off the screen. The cells and lines that hold model text (each table's last column, the bullets, the
    chairman's rationale, the lines that say a failure) may break anywhere; numbers (td.n, nowrap) never do."""
    styles = parsed(_page()).styles[0]
    [wraps] = [rule for rule in styles.splitlines() if "overflow-wrap: anywhere" in rule]
    assert {s.strip() for s in wraps.split("{")[0].split(",")} == {"td:last-child", "li", ".decision p", "p.bad"}
    assert "td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }" in styles


def test_the_charts_are_inline_svg_for_curves_drawdowns_intervals_and_costs() -> None:
    html = _page()
    tags = parsed(html)
    charts = [attrs["id"] for tag, attrs in tags.tags if tag == "div" and attrs.get("class") == "chart"]
    assert charts == [
        "chart-equity",
        "chart-drawdown",
        "chart-sharpe",
        "chart-excess_flat",
        "chart-excess_spy",
        "chart-cost",
    ]
    assert html.count("<svg") == 6
    for name in NAMES:  # every account and baseline is in the equity chart's legend and the table
        assert html.count(f">{name}<") >= 2
    # SVG element ids must not repeat across the charts: one page, one id space.
    ids = [attrs["id"] for _, attrs in tags.tags if attrs.get("id")]
    assert len(ids) == len(set(ids))


def test_the_leaderboard_shows_intervals_trade_counts_and_costs() -> None:
    html = _page()
    row = re.search(r"<tr class=\"account\"><td>acct_2</td>.*?</tr>", html)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))
    assert cells[5] == "0.40 [-1.10, 1.90]"  # Sharpe with its interval
    assert cells[9] == "7" and cells[13] == "12.50"  # trades, commissions
    assert cells[14] == "4.25"  # slippage, as the terminal table and the JSON give it
    assert cells[15] == "+1.00% [-5.00%, +7.00%]"  # excess vs FLAT with its interval
    assert cells[16] == "n/a"  # no excess vs SPY: said, not invented
    assert cells[19:] == ["140", "133"]  # the minimum track record in weeks, and the weeks still needed (132.2 up)
    assert "after knowledge cutoff" in html and "every interval contains zero" in html


def test_an_estimate_without_an_interval_says_so_in_the_table_and_the_chart() -> None:
    # Under 20 daily returns a Sharpe ratio has no interval: the terminal shows "[n/a]"; a bare number (or a bare dot
    # on the chart) would read as a figure with no doubt about it.
    board = leaderboard()
    short = board.standings[1].model_copy(update={"sharpe": Interval(estimate=0.4, low=None, high=None)})
    board = board.model_copy(update={"standings": (board.standings[0], short, *board.standings[2:])})
    html = render_report(report(), board)
    row = re.search(r"<tr class=\"account\"><td>acct_2</td>.*?</tr>", html)
    assert row is not None
    assert re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))[5] == "0.40 [n/a]"
    chart = html[html.index('id="chart-sharpe"') : html.index('id="chart-excess_flat"')]
    assert "no interval" in chart


def test_the_leaderboard_shows_the_slippage_paid_and_says_when_it_is_unknown() -> None:
    """A paper account pays its slippage in its fill prices, not as commissions: a report that showed only the
    commissions said "costs 0.00" for every account of a backtest at 5 bps (found on the 2024 ETF backtest:
    `llmtrade leaderboard` showed slippage~ 390.03 for acct_1, the report 0.00)."""
    board = leaderboard()
    rows = tuple(s.model_copy(update={"slippage_usd": None}) if s.name == "acct_1" else s for s in board.standings)
    html = render_report(report(), board.model_copy(update={"standings": rows}))
    assert "<th>commissions USD</th><th title=" in html and "slippage~ USD</th>" in html
    for name, slippage in (("acct_1", "n/a"), ("acct_2", "4.25")):
        row = re.search(rf"<tr class=\"account\"><td>{name}</td>.*?</tr>", html)
        assert row is not None
        assert re.findall(r"<td[^>]*>(.*?)</td>", row.group(0))[14] == slippage


def test_the_same_inputs_give_the_same_bytes() -> None:
    first = render_report(report(), leaderboard())
    second = render_report(report(), leaderboard())
    assert first.encode() == second.encode()
    assert render_report(report(thesis="Trend down."), leaderboard()) != first


def test_separate_processes_give_the_same_bytes() -> None:
    """What a second `llmtrade report` run sees: a new process, another hash seed, a fresh matplotlib."""
    source = Path(llmtrade.__file__).resolve().parents[1]
    probe = (
        "import sys\n"
        "from tests.test_report_html import leaderboard, report\n"
        "from llmtrade.report.render import render_report\n"
        "sys.stdout.buffer.write(render_report(report(), leaderboard()).encode())\n"
    )
    pages = [
        subprocess.run(
            [sys.executable, "-c", probe],
            capture_output=True,
            check=True,
            env={**os.environ, "PYTHONPATH": f"{source}{os.pathsep}{source.parent}", "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2")
    ]
    assert pages[0] == pages[1] == _page().encode()


def test_model_text_is_escaped_not_run() -> None:
    board = leaderboard()
    named = board.model_copy(update={"curves": (*board.curves, curve(EVIL + " $x_1$", 0.0))})
    html = render_report(report(thesis=EVIL), named)
    tags = parsed(html)
    assert not any(tag == "script" for tag, _ in tags.tags)
    assert EVIL not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    assert '>&lt;script&gt;alert("pwned")&lt;/script&gt; $x_1$</text>' in html  # a legend: text, not math
    # Into attributes too: the review cell's tooltip carries the argument against.
    titles = [attrs["title"] for tag, attrs in tags.tags if tag == "td" and attrs.get("title")]
    assert any(EVIL in (t or "") for t in titles)  # the parser unescapes it: it stayed an attribute value


def test_every_cited_event_id_has_its_anchor_and_shows_its_id() -> None:
    data = report()
    html = _page()
    tags = parsed(html)
    anchors = [attrs["id"] for _, attrs in tags.tags if (attrs.get("id") or "").startswith("event-")]
    assert len(anchors) == len(set(anchors))
    cited = set(data.event_ids())
    assert {f"event-{i}" for i in cited} == set(anchors)
    links = {
        attrs["href"] for tag, attrs in tags.tags if tag == "a" and (attrs.get("href") or "").startswith("#event-")
    }
    assert links == {f"#event-{i}" for i in cited}
    for event_id in cited:
        assert f">#{event_id}</a>" in html
    # Every internal link lands somewhere.
    targets = {attrs["id"] for _, attrs in tags.tags if attrs.get("id")}
    hrefs = {attrs["href"][1:] for tag, attrs in tags.tags if tag == "a" and attrs.get("href")}
    assert hrefs <= targets


def test_cost_per_week_is_listed_and_totalled() -> None:
    html = _page()
    assert (
        "(40 daily returns, 2 recorded weeks, 1 account)" in html
    )  # not "40 sessions": there are 41; not "1 accounts"
    assert "38 model calls (live or replayed), 0.75 USD in all; 2 fills, 2.00 USD commissions, 14.12 USD" in html
    assert "offline rules answers" not in html  # none in these weeks


def test_offline_rules_answers_are_counted_apart_from_model_calls() -> None:
    """The report said "57 model calls" of weeks where the offline rules provider answered 19 requests: no model."""
    rules_week = week(START + timedelta(days=7), 200, cost=0.5, rules=19)
    html = render_report(report().model_copy(update={"weeks": (report().weeks[0], rules_week)}), leaderboard())
    assert "38 model calls (live or replayed), 0.75 USD in all; 19 offline rules answers besides" in html
    assert "besides 19 offline rules answers (no model, $0)" in html  # the week's own line
    assert '<td class="n">19</td><td class="n">19</td>' in html  # the week's row: 19 model calls, 19 rules answers
    assert '<td class="n">0.250000</td>' in html and '<td class="n">0.500000</td>' in html


def test_a_model_cost_under_the_shown_decimals_is_shown_with_the_digits_that_show_it() -> None:
    """A small model's week of a few short calls ($0.0000004) read 0.000000 USD, as a week of no model at all, and
    pages of such weeks said "0.00 USD in all": money spent, said as none. Each is shown with the decimals that show
    it, as a small drawdown is; $0 stays 0.000000 in the weeks and 0.00 in all."""
    weeks = (
        week(START, 100, cost=4e-7),
        week(START + timedelta(days=7), 200, cost=0.0042),
        week(START + timedelta(days=14), 300, cost=0.0),
    )
    html = render_report(report().model_copy(update={"weeks": weeks}), leaderboard())
    assert '<td class="n">0.0000004</td>' in html and "+ 500 tokens, 0.0000004 USD." in html
    assert '<td class="n">0.004200</td>' in html and '<td class="n">0.000000</td>' in html
    assert "57 model calls (live or replayed), 0.004 USD in all;" in html
    free, dear = week(START, 100, cost=0.0), week(START + timedelta(days=7), 200, cost=1234.5)
    assert ", 0.00 USD in all;" in render_report(report().model_copy(update={"weeks": (free,)}), leaderboard())
    assert ", 1,234.50 USD in all;" in render_report(report().model_copy(update={"weeks": (free, dear)}), leaderboard())


def test_a_leaderboard_without_curves_and_a_report_without_weeks_still_render() -> None:
    bare = leaderboard().model_copy(update={"curves": (), "standings": (), "periods": ()})
    html = render_report(Report(source="live", accounts=(), weeks=()), bare)
    assert "No equity curves" in html and "No recorded weeks" in html
    assert "<svg" not in html


def test_numbers_that_round_to_zero_print_without_a_minus_sign() -> None:
    board = leaderboard()
    flat = board.standings[2].model_copy(update={"total_return": -1e-12, "max_drawdown": 0.0, "cagr": -0.0})
    html = render_report(report(), board.model_copy(update={"standings": (flat,)}))
    row = re.search(r"<tr class=\"baseline\"><td>FLAT</td>.*?</tr>", html)
    assert row is not None and "-0.0" not in row.group(0)
    assert '<td class="n">0.00%</td>' in row.group(0) and "+0.00%" not in row.group(0)  # zero: no sign


def test_drawdown_is_the_fall_from_the_running_peak() -> None:
    assert drawdowns([100, 110, 99, 121, 110]) == [0.0, 0.0, 99 / 110 - 1, 0.0, 110 / 121 - 1]


def test_fills_after_the_leaderboards_last_close_are_said_to_be_not_yet_in_it() -> None:
    """A report run on a Thursday: the checkpoints filled orders that morning, the leaderboard ends at Wednesday's
    close. The week lists the fills; the top says they are not yet in the curves and the table, and links them."""
    board = leaderboard()
    data = report()
    last = data.weeks[-1]
    today = board.end + timedelta(days=1)
    fill = last.fills[0].model_copy(update={"event_id": 999, "filled_at": f"{today}T10:00:00-05:00"})
    weeks = (*data.weeks[:-1], last.model_copy(update={"fills": (*last.fills, fill)}))
    html = render_report(data.model_copy(update={"weeks": weeks}), board)
    assert f'1 fill after the close of {board.end} (<a class="ev" href="#event-999">#999</a>) is listed' in html
    assert "not yet in the curves" not in render_report(data, board)


def test_a_leaderboard_row_shows_rates_and_levels_unsigned_and_its_drawdown_as_a_fall() -> None:
    """A new user read a hit rate of "+57%", a volatility of "+11.00%" and an exposure of "+7.0%" (the signed `_pct`
    filter, for what is no change), and a max drawdown of -3.10% here but 3.1% in the terminal's leaderboard."""
    html = _page()
    row = html[html.index('<tr class="account"><td>acct_1</td>') :]
    row = row[: row.index("</tr>")]
    cells = [cell.split("</td>")[0] for cell in row.split('<td class="n">')[1:]]
    # weeks, total, CAGR, volatility, Sharpe, Sortino, max DD (sessions), Calmar, trades, hit rate, turnover, gross
    assert cells[1:4] == ["+1.20%", "+8.00%", "11.00%"]  # returns are changes (signed); a volatility is a level
    assert cells[6] == "-3.10% (9)"
    assert cells[9:12] == ["57%", "3.20", "7.0%"]


def test_the_excess_columns_say_they_are_a_rate_a_year() -> None:
    """A new user read acct_2's "+1.31%" excess over FLAT beside its "+0.65%" total return as a contradiction: the
    column is the mean daily excess times 252, as the terminal's "vs FLAT/yr" says."""
    html = _page()
    head = html[html.index("<thead><tr><th>account</th>") :].split("</thead>")[0]
    headers = [cell.split(">", 1)[1].split("</th")[0] for cell in head.split("<th")[2:]]
    assert "excess vs FLAT/yr [95%]" in headers and "excess vs SPY/yr [95%]" in headers, headers
    assert head.count("times 252: a rate a year") == 2


def test_the_postmortem_column_says_direction_not_thesis() -> None:
    """A new user's trial: the memory called a setup's thesis right (every frozen threshold held) where the report
    called it wrong (the instrument moved against the bet), under one word for two questions."""
    html = _page()
    head = html[html.index("<th>instrument moved</th>") :].split("</thead>")[0]
    assert ">direction</th>" in head and "<th>thesis</th>" not in head
    assert "every frozen threshold held" in head
    row = html[html.index("<th>instrument moved</th>") :].split("</tbody>")[0]
    assert '<span class="good">right</span>' in row  # the fixture's LONG position whose instrument rose
