"""`llmtrade leaderboard` end to end on a real PostgreSQL, after a short offline week (synthetic market,
rules provider, paper brokers): the table, the JSON document and its schema, stable bytes, refusals."""

from __future__ import annotations

import io
import json

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.app.evaluation_results import ReportWritten
from llmtrade.cli import app
from llmtrade.commands.render.common import counted
from llmtrade.commands.render.report import print_written
from llmtrade.console import Output
from llmtrade.domain.trading import OrderFilled
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.database import backtest_database
from tests.support import FIXED_NOW

runner = CliRunner()
ACCOUNTS = ["acct_1", "acct_2", "acct_3", "acct_4", "acct_5", "acct_6"]


def _at(monkeypatch: pytest.MonkeyPatch, instant: str) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", instant)


@pytest.fixture
def traded(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str:
    """A week run offline: the weekly run, a checkpoint the next day, the postmortem after the week."""
    _at(monkeypatch, "2026-01-07T08:00:00-05:00")
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    _at(monkeypatch, "2026-01-08T12:00:00-05:00")
    assert runner.invoke(app, ["checkpoint", "12:00"]).exit_code == 0
    _at(monkeypatch, "2026-01-13T16:30:00-05:00")
    done = runner.invoke(app, ["postmortem", "--week", "2026-01-07"])
    assert done.exit_code == 0, done.output
    _at(monkeypatch, "2026-01-20T10:00:00-05:00")  # later: the books still end where the runs did
    return cli_env["DATABASE_URL"]


def _fills(url: str) -> list[OrderFilled]:
    from llmtrade.clock import FixedClock

    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        return [OrderFilled.from_event(e) for e in storage.events.read(type=OrderFilled.event_type())]


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} in the leaderboard's JSON: no strict parser reads it")


def _signed_float(text: str) -> float:
    value = float(text)
    if value == 0 and text.startswith("-"):
        raise ValueError(f"{text} in the leaderboard's JSON")
    return value


def test_json_ranks_every_account_and_baseline_over_the_books_sessions_and_is_byte_identical(traded: str) -> None:
    first = runner.invoke(app, ["leaderboard", "--json"])
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, ["leaderboard", "--live", "--json"])
    assert second.exit_code == 0, second.output
    assert first.stdout == second.stdout
    # JSON has no NaN or Infinity: read as a strict parser would, and with no -0.0 (a sign on nothing, which the
    # terminal never prints).
    board = json.loads(first.stdout, parse_constant=_no_constant, parse_float=_signed_float)
    names = [s["name"] for s in board["standings"]]
    assert names == [*ACCOUNTS, "FLAT", "SPY", "EQUAL_WEIGHT"]
    # From Tuesday's close (the last before the weekly run) to the postmortem's Tuesday close.
    assert (board["start"], board["end"], board["sessions"]) == ("2026-01-06", "2026-01-13", 5)
    assert board["source"] == "live" and board["trials"] == 5
    assert [c["name"] for c in board["curves"]] == names
    assert all(c["equity"][0] == 100_000.0 for c in board["curves"])
    rows = {s["name"]: s for s in board["standings"]}
    assert rows["FLAT"]["sharpe"]["estimate"] is None and rows["FLAT"]["total_return"] == 0.0
    assert rows["acct_6"]["trades"] == 0 and rows["acct_6"]["avg_gross_exposure"] == 0.0
    # Two rows with the same figures: the board says why (a user read them as two results).
    assert rows["acct_6"]["total_return"] == rows["FLAT"]["total_return"]
    assert any(n.startswith("acct_6 is the FLAT account: it holds its cash and never trades") for n in board["notes"])
    # Trial accounts whose books are the same close for close (offline, the rules answer alike) are said to be one
    # result, and no others are; this week's hold such a group (acct_2, acct_3 and acct_5 traded alike).
    alike: dict[tuple[float, ...], list[str]] = {}
    for c in board["curves"]:
        if c["name"] in ACCOUNTS and c["name"] != "acct_6" and len(set(c["equity"])) > 1:  # moved: not cash alike
            alike.setdefault(tuple(c["equity"]), []).append(c["name"])
    same = [f"{', '.join(names[:-1])} and {names[-1]}" for names in alike.values() if len(names) > 1]
    said = [n.split(" hold the same books")[0] for n in board["notes"] if " hold the same books, close for close" in n]
    assert said == same and same
    traders = {f.fill.account_id for f in _fills(traded)}
    assert traders, "the offline week filled no order: nothing to rank"
    for account in traders:
        assert rows[account]["avg_gross_exposure"] > 0
        # Paper fills at 5 bps: the slippage estimate is 5 bps of what was traded.
        assert rows[account]["slippage_usd"] > 0
    assert any("synthetic" in note for note in board["notes"])
    # Five sessions are too few for an interval: nothing is told from FLAT, and the note says so.
    assert all(rows[a]["sharpe"]["low"] is None for a in ACCOUNTS)
    assert any(
        note.startswith("no account is distinguishable from FLAT yet: 5 daily returns (1.0 weeks of 5 sessions)")
        for note in board["notes"]
    )


def test_the_table_shows_every_row_with_intervals_trades_and_costs(traded: str) -> None:
    result = runner.invoke(app, ["leaderboard"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for name in [*ACCOUNTS, "FLAT", "SPY", "EQUAL_WEIGHT"]:
        assert f"\n{name}\t" in out
    # Six sessions, Tuesday to Tuesday, are five daily returns: the heading counts what the note counts.
    assert "as of the close of 2026-01-13 (from the close of 2026-01-06: 5 daily returns, 1.0 weeks)" in out
    assert "from the close of 2026-01-06 to the close of 2026-01-13: 5 daily returns" in out
    assert "still open" not in out  # the postmortem closed the week
    for column in ("Sharpe [95%]", "vs FLAT/yr [95%]", "vs SPY/yr [95%]", "trades", "commissions", "slippage~"):
        assert column in out
    # The minimum track record and the weeks still needed (n/a on five sessions: too few to estimate either).
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("name\ttrades"))
    assert lines[at].endswith("\tmin weeks\tweeks more")
    rows = lines[at + 1 : at + 1 + len(ACCOUNTS)]
    assert [row.split("\t")[0] for row in rows] == ACCOUNTS
    assert all(row.endswith("\tn/a\tn/a") for row in rows)
    assert "intervals: stationary bootstrap (arch)" in out


def test_schema_of_the_leaderboard_is_published() -> None:
    result = runner.invoke(app, ["schema", "leaderboard"])
    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert {"standings", "periods", "curves", "trials", "bootstrap"} <= set(schema["properties"])


def test_an_unknown_backtest_exits_2_and_creates_no_database(cli_env: dict[str, str], pg_admin_url: str) -> None:
    result = runner.invoke(app, ["leaderboard", "--backtest", "nosuch", "--json"])
    assert result.exit_code == 2
    assert "no backtest named 'nosuch'" in result.stderr
    # The command to run it given whole: `llmtrade backtest --name nosuch` alone exits 2 (no --from, --to or mode).
    assert "run `llmtrade backtest --from D --to D --offline --name nosuch` first" in " ".join(result.stderr.split())
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (backtest_database("nosuch"),))
        assert found.fetchone() is None


def test_backtest_and_live_together_are_refused(cli_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["leaderboard", "--backtest", "x", "--live"])
    assert result.exit_code == 2
    assert "--backtest and --live" in result.stderr


def test_books_with_no_trading_yet_exit_0_with_what_to_do(cli_env: dict[str, str]) -> None:
    # Not an error (tests/test_books_empty.py): the state, what is missing, and what to do.
    result = runner.invoke(app, ["leaderboard"])
    assert result.exit_code == 0, result.output
    assert "No trading in these books yet" in result.stdout and "`llmtrade run-weekly` now" in result.stdout


def test_an_unknown_backtest_to_compare_with_says_to_name_another(traded: str) -> None:
    # The hint is about --versus, the option that named it: "leave out --backtest" (said before) fits no part of it.
    result = runner.invoke(app, ["leaderboard", "--versus", "nosuch"])
    assert result.exit_code == 2
    assert "no backtest named 'nosuch'" in result.stderr and "or name another with --versus" in result.stderr
    assert "--backtest for the live books" not in result.stderr


def test_counts_are_singular_for_one() -> None:
    assert [counted(n, "week") for n in (0, 1, 52)] == ["0 weeks", "1 week", "52 weeks"]
    out = io.StringIO()
    print_written(Output(stream=out, force_plain=True), ReportWritten(path="r.html", bytes=2048, weeks=1, accounts=6))
    assert out.getvalue().strip() == "wrote r.html (2,048 bytes): 1 week, 6 accounts"


def test_a_postmortems_end_equity_is_the_leaderboards_for_a_week_with_no_checkpoint_after_its_open(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The weekly run's orders queue for the open and fill there, unrecorded until a write path looks at the broker.
    With no checkpoint after the open, the postmortem valued the accounts with those fills but recorded none, so
    `leaderboard --live` (folded from the recorded fills) showed the starting cash at the same Tuesday close until
    the next weekly run recorded them (found by the new-user trial). The postmortem now records them first."""
    _at(monkeypatch, "2026-01-07T08:00:00-05:00")
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    assert _fills(cli_env["DATABASE_URL"]) == []  # queued for the open
    _at(monkeypatch, "2026-01-13T16:31:00-05:00")
    done = runner.invoke(app, ["postmortem", "--week", "2026-01-07", "--json"])
    assert done.exit_code == 0, done.output
    ends = {a["account_id"]: a["end_equity"] for a in json.loads(done.stdout)["accounts"]}
    assert any(equity != 100_000 for equity in ends.values())  # the premise: the week traded
    assert _fills(cli_env["DATABASE_URL"])

    board = json.loads(runner.invoke(app, ["leaderboard", "--live", "--json"]).stdout)
    assert board["end"] == "2026-01-13"
    curves = {c["name"]: c for c in board["curves"] if c["kind"] == "account"}
    assert {name: c["sessions"][-1] for name, c in curves.items()} == dict.fromkeys(ACCOUNTS, "2026-01-13")
    assert {name: round(c["equity"][-1], 2) for name, c in curves.items()} == ends


def test_a_sweeps_name_given_as_a_backtest_says_it_is_a_sweep(cli_env: dict[str, str], pg_admin_url: str) -> None:
    """Found trying a sweep: `leaderboard --backtest bttsw`, the sweep file's name:, said "no backtest named 'bttsw'
    ...; run `llmtrade backtest --name bttsw` first", sending a newcomer to run a plain backtest. A sweep's runs are
    backtests named SWEEP-<run id>: the message now says the name is a sweep's and where its runs are listed."""
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute("CREATE DATABASE llmtrade_sw_trialsweep")
    try:
        result = runner.invoke(app, ["leaderboard", "--backtest", "trialsweep"])
        assert result.exit_code == 2, result.output
        assert "no backtest named 'trialsweep'" in result.stderr
        assert "'trialsweep' is a sweep's name" in result.stderr and "trialsweep-<run id>" in result.stderr
        assert "report --sweep trialsweep" in result.stderr
        assert "run `llmtrade backtest --name trialsweep` first" not in result.stderr
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS llmtrade_sw_trialsweep")
