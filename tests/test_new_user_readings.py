"""What a new user read in `status`, `leaderboard`, `report`, `events`, `postmortem` and `--help` and could not trust
(the second new-user trial): a drawdown's sign that changed between commands, two as-of moments unsaid, a SPY return
with costs in one and none in the other, a bad name that listed nothing and exited 0, "1 trades", a rate with a sign,
and flags shown as taking a `<bool>`. On a real PostgreSQL, offline (synthetic market, rules provider, paper
brokers), through the command line."""

from __future__ import annotations

import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.app.results import StatusResult
from llmtrade.cli import app
from llmtrade.commands.render.status import print_status
from llmtrade.console import Output
from tests.support import stored_events
from tests.test_leaderboard_command import ACCOUNTS, _at

runner = CliRunner()


@pytest.fixture
def midweek(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A week run offline, a checkpoint on Thursday, and the clock moved to Friday evening: two closes (Thursday's,
    Friday's) that no run has valued yet, the week not closed (no postmortem)."""
    _at(monkeypatch, "2026-01-07T08:00:00-05:00")
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    _at(monkeypatch, "2026-01-08T12:00:00-05:00")
    done = runner.invoke(app, ["checkpoint", "12:00"])
    assert done.exit_code == 0, done.output
    _at(monkeypatch, "2026-01-09T18:00:00-05:00")
    return cli_env["DATABASE_URL"]


def _rows(text: str, header: str) -> dict[str, list[str]]:
    """The tab-separated table under the header line starting `header`, by its first column."""
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith(header))
    columns = lines[at].split("\t")
    rows: dict[str, list[str]] = {columns[0]: columns}  # the header, under its own first column's name
    for line in lines[at + 1 :]:
        cells = line.split("\t")
        if len(cells) != len(columns):
            break
        rows[cells[0]] = cells
    return rows


def test_a_drawdown_reads_as_the_same_negative_percentage_in_status_the_leaderboard_and_the_report(
    midweek: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status showed acct_4's drawdown as -0.4%, the leaderboard as 0.4%: one convention (a fall is negative) for
    every text and page, while --json keeps the positive fraction each field's doc says."""
    _at(monkeypatch, "2026-01-08T12:30:00-05:00")  # status values at the close the leaderboard ends at
    board = json.loads(runner.invoke(app, ["leaderboard", "--json"]).stdout)
    fallen = {s["name"]: s["max_drawdown"] for s in board["standings"] if s["max_drawdown"] > 0.0005}
    assert fallen, "no account fell from a peak over the week: the test proves nothing"
    assert all(value > 0 for value in fallen.values())  # the JSON field's sign, as documented
    text = runner.invoke(app, ["leaderboard"]).stdout
    risk = _rows(text, "name\tkind\tweeks")
    dd = risk["name"].index("max DD")
    for name, value in fallen.items():
        assert risk[name][dd] == f"{-value:.1%}"
        assert risk[name][dd].startswith("-")
    assert risk["FLAT"][dd] == "0.0%"  # none: neither "+0.0%" nor "-0.0%"

    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    standing = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    accounts = _rows(status.stdout, "account\trole")
    at = accounts["account"].index("max DD (closes, now)")  # over the daily closes, then now
    for account in standing["accounts"]:
        shown = accounts[account["account_id"]][at]
        assert account["max_drawdown"] >= 0  # the JSON field's sign, as documented
        fell = account["max_drawdown"]
        if fell >= 0.0005:
            assert shown == f"{-fell:.1%}"
        elif fell >= 0.00001:  # under the table's decimal, with those that show it (tests/test_small_falls.py)
            assert shown.startswith("-0.0") and abs(float(shown[:-1]) + 100 * fell) < 0.005, shown
        else:
            assert shown == "0.0%"
    # The week's accounts fell less than 0.05% (their slippage): the same status with acct_1 12.34% below its peak.
    # And with one round trip, won: "100% (1 trade)", not "(1 trades)".
    deeper = [
        a | {"max_drawdown": 0.1234, "trades": 1, "hit_rate": 1.0, "week_pnl": 1234.5}
        if a["account_id"] == "acct_1"
        else a
        for a in standing["accounts"]
    ]
    text = io.StringIO()
    print_status(Output(stream=text, force_plain=True), StatusResult.model_validate(standing | {"accounts": deeper}))
    row = _rows(text.getvalue(), "account\trole")["acct_1"]
    assert row[at] == "-12.3%"
    assert row[accounts["account"].index("hit rate")] == "100% (1 trade)"
    assert row[accounts["account"].index("week P/L")] == "+1,234.50"  # a P/L is a change: signed, as in the report

    out = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "-o", str(out)]).exit_code == 0
    html = out.read_text()
    for value in fallen.values():
        assert f"{round(-100 * value, 2) + 0.0:.2f}% (" in html  # the max DD (sessions) cell


def test_status_and_the_live_leaderboard_each_say_when_they_value_the_books_and_the_open_week_is_said(
    midweek: str,
) -> None:
    """Mid-week, `status` valued the accounts at Friday's close and the leaderboard at Wednesday's (the last a run
    saw), and neither said so: they disagreed without a word."""
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0, status.output
    heading = status.stdout.splitlines()[0]
    # The quick start's books are on the synthetic market: the heading says so (bebfbb7).
    assert "(week 2026-01-07, valued at the close of 2026-01-09 on SYNTHETIC prices)" in heading
    assert json.loads(runner.invoke(app, ["status", "--json"]).stdout)["valued_at"] == "2026-01-09"

    board = runner.invoke(app, ["leaderboard"])
    assert board.exit_code == 0, board.output
    assert board.stdout.splitlines()[0].startswith(
        "== leaderboard: live, as of the close of 2026-01-07 (from the close of 2026-01-06: 1 daily return, "
    )
    assert (
        "note: the week of 2026-01-07 is still open (no postmortem yet): these figures value the books at the close "
        "of 2026-01-07, the last a run valued; `status` values them at the last close now"
    ) in board.stdout


def test_a_closed_week_has_no_open_week_note_and_the_next_week_run_has_one(
    midweek: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _at(monkeypatch, "2026-01-13T16:30:00-05:00")
    done = runner.invoke(app, ["postmortem", "--week", "2026-01-07"])
    assert done.exit_code == 0, done.output
    notes = json.loads(runner.invoke(app, ["leaderboard", "--json"]).stdout)["notes"]
    assert not [n for n in notes if "still open" in n]
    # The next week's run values the books at Tuesday's close, the week before's: that new week is the open one.
    _at(monkeypatch, "2026-01-14T08:00:00-05:00")
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    board = json.loads(runner.invoke(app, ["leaderboard", "--json"]).stdout)
    assert board["end"] == "2026-01-13"
    assert [n for n in board["notes"] if n.startswith("the week of 2026-01-14 is still open (no postmortem yet)")]


def test_status_vs_spy_is_the_leaderboards_spy_baseline_costs_paid(
    midweek: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """status's SPY return was SPY's bare move, the leaderboard's SPY row paid 5 bps of slippage: over the same
    closes the two now agree, and status says which SPY it is."""
    _at(monkeypatch, "2026-01-08T12:30:00-05:00")  # both value the books at Wednesday's close now
    standing = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    board = json.loads(runner.invoke(app, ["leaderboard", "--json"]).stdout)
    assert standing["valued_at"] == board["end"] == "2026-01-07"
    spy = next(s for s in board["standings"] if s["name"] == "SPY")
    assert standing["spy_return_since_start"] == pytest.approx(spy["total_return"], abs=1e-12)
    assert spy["total_return"] != 0.0  # a day's move with its slippage: a zero would prove nothing
    text = runner.invoke(app, ["status"]).stdout
    assert "SPY since the first run (as the leaderboard's SPY: slippage paid)" in text


def test_status_compares_no_accounts_and_gives_the_costs_the_leaderboard_does(
    midweek: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cron trial: status's "vs FLAT -2.4%, vs SPY -6.1%" compared accounts with no interval and no costs (its only
    cost was the model calls'). Status now gives each account's costs, as the leaderboard counts them, and leaves the
    comparing to the leaderboard, which carries the intervals."""
    standing = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    # Every fill to date (the leaderboard's stop at the last close a run valued: Thursday's checkpoint traded after).
    fills = [e.payload["fill"] for e in stored_events(midweek, type="OrderFilled")]
    for account in standing["accounts"]:
        assert "vs_flat" not in account and "vs_spy" not in account
        mine = [f for f in fills if f["account_id"] == account["account_id"]]
        assert account["commissions_usd"] == pytest.approx(sum(f["commission"] for f in mine), abs=0.005)
        notional = sum(f["qty"] * f["price"] for f in mine)
        assert account["slippage_usd"] == pytest.approx(notional * 5 / 10_000, abs=0.005)  # the paper broker's 5 bps
    assert any(a["slippage_usd"] > 0 for a in standing["accounts"])  # the week traded: a zero would prove nothing
    text = runner.invoke(app, ["status"]).stdout
    assert "vs FLAT" not in text and "vs SPY" not in text
    assert (
        "how the accounts compare: `llmtrade leaderboard`: each account against FLAT and SPY with 95% intervals" in text
    )


def test_events_with_a_name_that_names_nothing_exit_2_naming_what_is_known(midweek: str) -> None:
    """`events --account acct_9` listed "0 events" and exited 0, as `--type OrderFiled` once did."""
    account = runner.invoke(app, ["events", "--account", "acct_9"])
    assert account.exit_code == 2
    assert "--account 'acct_9' is not an account in accounts.yaml nor in the books; known: " in account.stderr
    assert all(a in account.stderr for a in ACCOUNTS)
    run = runner.invoke(app, ["events", "--run", "20260107T130000Z-nope"])
    assert run.exit_code == 2 and "--run '20260107T130000Z-nope' is no run on record; known: " in run.stderr
    stream = runner.invoke(app, ["events", "--stream", "week:2026-01-07:nope"])
    assert stream.exit_code == 2 and "--stream 'week:2026-01-07:nope' is no stream on record" in stream.stderr
    mistyped = runner.invoke(app, ["events", "--type", "OrderFiled"])
    assert mistyped.exit_code == 2 and "did you mean OrderFilled" in mistyped.stderr
    # Names that are known but find nothing together are an answer, not an error.
    none = runner.invoke(app, ["events", "--account", "acct_6", "--type", "RunStarted"])
    assert none.exit_code == 0 and "# 0 events" in none.stdout
    one = runner.invoke(app, ["events", "--type", "RunStarted", "--limit", "1"])
    assert one.exit_code == 0 and "# 1 event\n" in one.stdout  # not "1 events"


def test_a_postmortem_of_a_week_never_run_is_bad_input_naming_the_weeks_run(midweek: str) -> None:
    never = runner.invoke(app, ["postmortem", "--week", "2025-12-31"])
    assert never.exit_code == 2, never.output  # was 1: an operational failure, for a --week that was a typo
    assert "week 2025-12-31 has no completed weekly run: nothing to review; weeks run: 2026-01-07" in never.stderr


def test_help_shows_flags_as_flags() -> None:
    """typer's rich help showed `--json <bool>` (and `--help <bool>`), as if a flag took a value."""
    for args in (["--help"], ["events", "--help"], ["status", "--help"], ["run-weekly", "--help"]):
        shown = runner.invoke(app, args, env={"COLUMNS": "160"})
        assert shown.exit_code == 0
        assert "<bool>" not in shown.stdout, args
    events = runner.invoke(app, ["events", "--help"], env={"COLUMNS": "160"}).stdout
    assert "--json" in events and "<str>" in events  # an option that takes a value still says what


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        self._in = tag in ("td", "th")
        if self._in and self.rows:
            self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in = False

    def handle_data(self, data: str) -> None:
        if self._in and self.rows:
            self.rows[-1][-1] += data


def test_the_reports_rates_and_levels_have_no_sign(midweek: str, tmp_path: Path) -> None:
    """The report showed a hit rate of +57%, a volatility of +11.00%, an exposure of +7.0%: a rate is not a change."""
    out = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "-o", str(out)]).exit_code == 0
    cells = _Cells()
    cells.feed(out.read_text())
    header = next(r for r in cells.rows if r and r[0] == "account" and "volatility" in r)
    rows = [r for r in cells.rows if len(r) == len(header) and r[0] in [*ACCOUNTS, "SPY"]]
    assert rows
    for column in ("volatility", "avg gross", "hit rate"):
        at = header.index(column)
        assert all(not r[at].startswith("+") for r in rows), column
    at = header.index("avg gross")
    spy = next(r for r in rows if r[0] == "SPY")
    assert spy[at].endswith("%") and float(spy[at][:-1]) > 0  # a level, shown without its sign


def test_a_clock_set_back_behind_the_books_is_said_by_status_and_the_leaderboard(
    midweek: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cron trial set LLMTRADE_NOW weeks back: status headed "valued at the close of" that day above later fills and
    equity, the leaderboard said "as of the close of" a day after "now", neither with a word."""
    said = "the books hold records made after the clock (2026-01-08 12:00 New York; the clock reads 2026-01-07 07:00"
    _at(monkeypatch, "2026-01-07T07:00:00-05:00")  # before the weekly run and Thursday's checkpoint
    status = runner.invoke(app, ["-q", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert said in status.stderr and any(w.startswith(said) for w in json.loads(status.stdout)["warnings"])
    board = runner.invoke(app, ["leaderboard", "--json"])
    assert board.exit_code == 0, board.output
    assert [n for n in json.loads(board.stdout)["notes"] if n.startswith(said)], board.stdout
    _at(monkeypatch, "2026-01-09T18:00:00-05:00")  # the clock after every record: nothing to say
    assert "after the clock" not in runner.invoke(app, ["-q", "status"]).stderr
    assert not [n for n in json.loads(runner.invoke(app, ["leaderboard", "--json"]).stdout)["notes"] if "clock" in n]


def test_a_record_made_moments_after_the_clock_read_is_no_clock_set_back() -> None:
    """A review: status reads the clock, then the books; a cron checkpoint valuing an account in between (or another
    machine's clock a little ahead) read as a clock set back, said under -q too."""
    from datetime import datetime, timedelta

    from llmtrade.app.clock_behind import clock_behind

    now = datetime.fromisoformat("2026-01-07T12:00:00-05:00")
    assert clock_behind([now - timedelta(days=1), now + timedelta(minutes=4)], now, "status") is None
    said = clock_behind([now + timedelta(minutes=6)], now, "status")
    assert said is not None and said.startswith("the books hold records made after the clock (2026-01-07 12:06 New")


def test_events_help_says_every_week_is_listed_without_week() -> None:
    # It said "Default: this week" (the option shared with the week's commands), and listed every week's events.
    shown = runner.invoke(app, ["events", "--help"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0
    text = " ".join(shown.stdout.split())
    assert "Default: every week." in text and "Default: this week" not in text
