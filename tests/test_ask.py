"""`llmtrade ask` (issue 16): read-only tools a model calls through the OpenAI-compatible API, and offline listing.

The loopback fake server answers with tool calls shaped as real servers send them: `tool_calls` whose
`function.arguments` is a JSON string, here crafted to write or malformed; nothing it does may change
the store."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.domain.events import LLMCallCompleted, NewEvent
from llmtrade.settings import Settings
from llmtrade.storage.ask_queries import ReadOnlyEvents, ToolRefused
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.event_store import EventStore
from tests.fakes.openai_server import FakeOpenAIServer, completion_for

THURSDAY = datetime(2026, 1, 8, 15, 0, tzinfo=UTC)  # 10:00 New York
FRIDAY = datetime(2026, 1, 9, 15, 0, tzinfo=UTC)
SATURDAY = "2026-01-10T12:00:00-05:00"
CRAFTED = "acct_3'; DELETE FROM events; --"


def _seed(url: str) -> list[int]:
    """Three events: acct_3's exit on Thursday, acct_1's order on Thursday, acct_3's fill on Friday."""
    with psycopg.connect(url, autocommit=True) as conn:
        from llmtrade.storage import migrations

        migrations.migrate(conn)
        ids = []
        for when, account, type_, payload in (
            (THURSDAY, "acct_3", "OrderSubmitted", {"symbol": "SPY", "reason": "checkpoint EXIT"}),
            (THURSDAY, "acct_1", "OrderSubmitted", {"symbol": "TLT"}),
            (FRIDAY, "acct_3", "OrderFilled", {"symbol": "SPY"}),
        ):
            [stored] = EventStore(conn, FixedClock(when)).append(
                [NewEvent(type=type_, stream=f"paper:{account}", account_id=account, payload=payload)]
            )
            ids.append(stored.id)
    return ids


def _count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def _tool_call(n: int, name: str, arguments: str) -> dict[str, Any]:
    return {"id": f"call_{n}", "type": "function", "function": {"name": name, "arguments": arguments}}


def _scripted(first_id: int) -> Any:
    """A model that first calls tools trying to write, then answers citing one read and one invented id."""

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        reply = completion_for(body)
        message = reply["choices"][0]["message"]
        if not any(m["role"] == "tool" for m in body["messages"]):
            message["content"] = None
            message["tool_calls"] = [
                _tool_call(1, "events", json.dumps({"account_id": CRAFTED})),
                _tool_call(2, "events", json.dumps({"types": ["OrderSubmitted'); DROP TABLE events; --"]})),
                _tool_call(3, "append_event", json.dumps({"type": "OrderFilled", "stream": "paper:acct_3"})),
                _tool_call(4, "account_orders", '{"account_id": "acct_3", '),  # cut short: malformed JSON
                _tool_call(5, "account_orders", json.dumps({"account_id": "acct_3"})),
                _tool_call(6, "events", json.dumps({"limit": 10_000})),
            ]
            reply["choices"][0]["finish_reason"] = "tool_calls"
        else:
            message["content"] = f"acct_3 exited SPY at its checkpoint [#{first_id}] (see also [#999999])."
        return reply

    return answer


def test_ask_cannot_write_whatever_its_tool_calls_say(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    url = cli_env["DATABASE_URL"]
    ids = _seed(url)
    before = _count(url)
    with FakeOpenAIServer(answer=_scripted(ids[0])) as fake:
        monkeypatch.setenv("LLMTRADE_NOW", SATURDAY)
        monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", fake.base_url)
        result = CliRunner().invoke(app, ["ask", "why did acct_3 exit on Thursday?", "--json"])
        requests = list(fake.requests)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["mode"] == "live" and answer["cited"] == [ids[0]]  # #999999 was never read: not cited

    assert "tools" in requests[0] and {t["function"]["name"] for t in requests[0]["tools"]} == {
        "events",
        "run_summary",
        "runs",
        "account_orders",
    }
    told = {m["tool_call_id"]: json.loads(m["content"]) for m in requests[1]["messages"] if m["role"] == "tool"}
    assert told["call_1"] == [] and told["call_2"] == []  # bound as values: matched nothing, ran nothing
    assert "no tool 'append_event'" in told["call_3"]["error"]
    assert "not JSON" in told["call_4"]["error"]
    assert [row["id"] for row in told["call_5"]] == [ids[2], ids[0]]
    assert "do not fit" in told["call_6"]["error"]  # past the row limit

    with open_storage(Settings(DATABASE_URL=url), FixedClock(THURSDAY)) as storage:
        kept = [e.id for e in storage.events.read() if e.id in ids]
        calls = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
        types = [e.type for e in storage.events.read()]
    assert kept == ids  # nothing deleted, nothing changed
    assert len(calls) == 2 and {c.role for c in calls} == {"ask"}  # every answer recorded like any call
    assert _count(url) == before + 4  # the two calls, RunStarted and RunFinished: ask's own record only
    assert types.count("RunFinished") == 1


def test_the_tools_connection_refuses_a_write_even_in_sql_of_its_own(database_url: str) -> None:
    ids = _seed(database_url)
    tools = ReadOnlyEvents(database_url)
    try:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            tools._query("DELETE FROM events WHERE id = %s", [ids[0]])
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            tools._query("INSERT INTO events (type, stream, version, occurred_at) VALUES ('X', 's', 1, now())", [])
        with pytest.raises(ToolRefused):
            tools.call("run_summary", "not json")
        assert tools.call("run_summary", json.dumps({"run_id": "nope"}))["events_by_type"] == {}
    finally:
        tools.close()
    assert _count(database_url) == 3


def test_offline_ask_lists_the_events_the_question_points_at(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _seed(cli_env["DATABASE_URL"])
    monkeypatch.setenv("LLMTRADE_NOW", SATURDAY)
    result = CliRunner().invoke(app, ["ask", "why did acct_3 exit on Thursday?", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["mode"] == "offline" and answer["answer"] is None
    assert [e["id"] for e in answer["events"]] == answer["cited"] == [ids[0]]
    assert answer["filters"]["account_id"] == "acct_3"
    assert answer["filters"]["since"].startswith("2026-01-08T00:00:00")

    shown = CliRunner().invoke(app, ["ask", "what happened to acct_3?", "--offline"])
    assert shown.exit_code == 0, shown.output
    assert f"#{ids[2]} " in shown.stdout and f"#{ids[0]} " in shown.stdout and f"#{ids[1]} " not in shown.stdout


def test_offline_a_question_naming_no_account_exits_2_naming_the_accounts() -> None:
    """ "why did acct_9 exit?" was read without its account and listed every account's exits (the second new-user
    trial): a word shaped like the accounts' ids that is none of them is a bad question."""
    from llmtrade.app.ask import read_question
    from llmtrade.errors import UsageError

    now = datetime(2026, 1, 9, 18, tzinfo=UTC)
    accounts = ["acct_1", "acct_2", "acct_6"]
    with pytest.raises(UsageError) as bad:
        read_question("why did acct_9 exit?", now, accounts)
    assert str(bad.value) == "the question names 'acct_9', which is no account in accounts.yaml; known: " + ", ".join(
        accounts
    )
    assert read_question("why did acct_2 exit?", now, accounts)["account_id"] == "acct_2"
    assert "account_id" not in read_question("what failed today?", now, accounts)


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("orders on 2026-02-30", "'2026-02-30', which is no date (February 2026 has days 1 to 28)"),
        ("orders on 2026-13-45?", "'2026-13-45', which is no date (the month is 1 to 12)"),
    ],
)
def test_a_question_naming_no_date_exits_2_and_a_time_keeps_its_date(question: str, said: str) -> None:
    """A new user's trial: an impossible date was a traceback, and 2026-12-3 or 2026-12-02T10:00 were read without
    their date (listing the latest events, as if none had been asked for)."""
    from llmtrade.app.ask import read_question
    from llmtrade.errors import UsageError

    now = datetime(2026, 12, 4, 18, tzinfo=UTC)
    with pytest.raises(UsageError, match=re.escape(said)):
        read_question(question, now, ["acct_1"])
    assert str(read_question("orders on 2026-12-02T10:00", now, ["acct_1"])["since"]).startswith("2026-12-02 00:00")
    # A day of one-digit parts is the day it says, as on the command line: it was refused, "write a date as
    # YYYY-MM-DD (2026-12-03)", an example a trial read as a correction of 2024-2-3.
    assert str(read_question("orders on 2026-12-2", now, ["acct_1"])["since"]).startswith("2026-12-02 00:00")


def test_offline_a_weekday_asked_on_that_weekday_is_today_and_last_weekday_the_week_before(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ "why did acct_3 exit on Thursday?" asked on Thursday evening listed the Thursday of the week before (nothing),
    not the exit of that day; "last Thursday" asked on a Thursday is the one before, as a person means it."""
    ids = _seed(cli_env["DATABASE_URL"])
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-08T18:00:00-05:00")  # Thursday evening in New York
    result = CliRunner().invoke(app, ["ask", "why did acct_3 exit on Thursday?", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["filters"]["since"].startswith("2026-01-08T00:00:00")
    assert [e["id"] for e in answer["events"]] == [ids[0]]
    before = CliRunner().invoke(app, ["ask", "why did acct_3 exit last Thursday?", "--offline", "--json"])
    assert before.exit_code == 0, before.output
    assert json.loads(before.stdout)["filters"]["since"].startswith("2026-01-01T00:00:00")


@pytest.mark.parametrize(
    ("now", "first", "last"),
    [
        ("2026-01-12T10:00:00-05:00", "2026-01-09", "2026-01-11"),  # Monday: Friday's session, and the weekend after
        ("2026-01-13T10:00:00-05:00", "2026-01-12", "2026-01-12"),  # Tuesday: Monday
        ("2026-01-10T12:00:00-05:00", "2026-01-09", "2026-01-09"),  # Saturday: Friday
        ("2026-11-27T10:00:00-05:00", "2026-11-25", "2026-11-26"),  # the Friday after Thanksgiving: Wednesday's
    ],
)
def test_yesterday_is_the_previous_trading_session(now: str, first: str, last: str) -> None:
    """ "yesterday" asked on a Monday was Sunday, when nothing trades: Friday's fills were not listed (a trial)."""
    from llmtrade.app.ask import read_question

    found = read_question("which orders filled yesterday?", datetime.fromisoformat(now), ["acct_1"])
    assert found["since"].isoformat().startswith(f"{first}T00:00:00")
    assert found["until"] == datetime.fromisoformat(f"{last}T00:00:00-05:00") + timedelta(days=1)
    before = read_question("orders the day before yesterday", datetime.fromisoformat(now), ["acct_1"])
    assert before["until"] == found["since"]  # one session further back, ending where yesterday begins


def test_offline_yesterday_asked_on_monday_lists_fridays_fill(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _seed(cli_env["DATABASE_URL"])
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-12T09:00:00-05:00")  # Monday: acct_3's fill was on Friday
    result = CliRunner().invoke(app, ["ask", "what did acct_3 fill yesterday?", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert [e["id"] for e in answer["events"]] == [ids[2]]
    assert answer["filters"]["since"].startswith("2026-01-09T00:00:00")


def test_the_live_model_is_told_the_day_and_the_session_yesterday_means(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(cli_env["DATABASE_URL"])
    with FakeOpenAIServer() as fake:
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-12T09:00:00-05:00")
        monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", fake.base_url)
        result = CliRunner().invoke(app, ["ask", "what did acct_3 fill yesterday?", "--json"])
        requests = list(fake.requests)
    assert result.exit_code == 0, result.output
    system = requests[0]["messages"][0]["content"]
    assert "It is now Monday 2026-01-12 09:00 in New York" in system
    assert '"yesterday" is the previous trading session, Friday 2026-01-09' in system
    assert '"This week" is llmtrade\'s week 2026-01-07 (Wednesday to Tuesday), "last week" 2025-12-31' in system


@pytest.mark.parametrize(
    ("question", "since", "until"),
    [
        # Wednesday 2026-01-14 10:00 New York: llmtrade's week began today; the last one ran 01-07 to 01-13.
        ("what did acct_1 do last week?", "2026-01-07T00:00:00-05:00", "2026-01-14T00:00:00-05:00"),
        ("orders in the previous week", "2026-01-07T00:00:00-05:00", "2026-01-14T00:00:00-05:00"),
        ("fills this week", "2026-01-14T00:00:00-05:00", "2026-01-15T00:00:00-05:00"),
        ("what happened this morning?", "2026-01-14T00:00:00-05:00", "2026-01-14T12:00:00-05:00"),
        ("exits this afternoon", "2026-01-14T12:00:00-05:00", "2026-01-14T18:00:00-05:00"),
        ("what failed tonight?", "2026-01-14T18:00:00-05:00", "2026-01-15T00:00:00-05:00"),
        ("exit on Monday morning", "2026-01-12T00:00:00-05:00", "2026-01-12T12:00:00-05:00"),
        ("fills yesterday afternoon", "2026-01-13T12:00:00-05:00", "2026-01-13T18:00:00-05:00"),
    ],
)
def test_last_week_this_week_and_this_morning_are_read(question: str, since: str, until: str) -> None:
    """ "last week" and "this morning" were read as no time at all: the question listed the latest events, those of
    another week or day, as if they answered it."""
    from llmtrade.app.ask import read_question

    found = read_question(question, datetime.fromisoformat("2026-01-14T10:00:00-05:00"), ["acct_1"])
    assert (found["since"], found["until"]) == (datetime.fromisoformat(since), datetime.fromisoformat(until))


@pytest.mark.parametrize(
    ("question", "said"),
    [
        ("what did acct_1 do last month?", "'last month'"),
        ("orders tomorrow", "'tomorrow'"),
        ("what filled 3 days ago?", "'3 days ago'"),
        ("fills last night", "'last night'"),
        ("exits over the weekend", "'weekend'"),
        ("what will acct_1 do next week?", "'next week'"),
        ("exits in the last 2 days", "'last 2 days'"),
    ],
)
def test_a_relative_time_ask_does_not_read_exits_2_naming_it(question: str, said: str) -> None:
    from llmtrade.app.ask import read_question
    from llmtrade.errors import UsageError

    with pytest.raises(UsageError, match=re.escape(f"the question says {said}, a time ask does not read")):
        read_question(question, datetime.fromisoformat("2026-01-14T10:00:00-05:00"), ["acct_1"])


def test_offline_last_week_lists_that_weeks_events_and_a_month_is_refused(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked a week later, "what did acct_3 do this morning?" and "... last month?" listed acct_3's Thursday and Friday
    events (the latest) as their answer; "last week" is the week they were in, "this morning" has none of them."""
    ids = _seed(cli_env["DATABASE_URL"])
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-14T10:00:00-05:00")  # the Wednesday after
    last = CliRunner().invoke(app, ["ask", "what did acct_3 do last week?", "--offline", "--json"])
    assert last.exit_code == 0, last.output
    assert [e["id"] for e in json.loads(last.stdout)["events"]] == [ids[2], ids[0]]
    morning = CliRunner().invoke(app, ["ask", "what did acct_3 do this morning?", "--offline", "--json"])
    assert morning.exit_code == 0, morning.output
    assert json.loads(morning.stdout)["events"] == []
    month = CliRunner().invoke(app, ["ask", "what did acct_3 do last month?", "--offline", "--json"])
    assert month.exit_code == 2
    assert "the question says 'last month', a time ask does not read" in month.output


@pytest.mark.parametrize(
    ("question", "meant"),
    [
        # A trial's week held two killed runs, a refused configuration, a clock refusal and missed checkpoints:
        # "what failed last week?" found "no matching event".
        (
            "what failed last week?",
            {"RunFailed", "RunKilled", "ConfigRejected", "ClockBehindRefused", "ClockSkewRefused", "CheckpointsMissed"},
        ),
        ("was any run killed?", {"RunKilled"}),
        ("which checkpoints were missed?", {"CheckpointsMissed"}),
        ("was a wake-up refused for its config?", {"ConfigRejected"}),
        ("was the week not run because of the clock?", {"ClockBehindRefused", "ClockSkewRefused"}),
    ],
)
def test_offline_words_for_what_went_wrong_point_at_every_kind_of_it(question: str, meant: set[str]) -> None:
    from llmtrade.app.ask import read_question

    now = datetime(2026, 11, 19, 15, tzinfo=UTC)
    assert meant <= set(read_question(question, now, ["acct_1"])["types"])


def test_a_question_naming_the_last_day_a_date_holds_exits_2_not_a_traceback() -> None:
    """A new user's trial: "what happened on 9999-12-31?" was a traceback (the day after it is no date Python holds)."""
    from llmtrade.app.ask import read_question
    from llmtrade.errors import UsageError

    now = datetime(2026, 12, 4, 18, tzinfo=UTC)
    with pytest.raises(UsageError, match=re.escape("the question names '9999-12-31', which is no day llmtrade can")):
        read_question("what happened on 9999-12-31?", now, ["acct_1"])
