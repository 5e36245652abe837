"""A replayed backtest stopped by what real providers do to a live miss, or by a miss of its cache: it stops in one
line naming the week, the call and the provider's reason with what to do, freezes nothing of the failed step, and the
same command (given what it asks for) goes on to the books of a run never stopped."""

from __future__ import annotations

import json
import time
from typing import Any

from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.fakes.committee_answers import committee_answer
from tests.fakes.llm_faults import Fault
from tests.fakes.openai_server import FakeOpenAIServer
from tests.test_backtest_replay import _db, _rows
from tests.test_backtest_replay import models as models

runner = CliRunner()
WEEK = "2026-01-07"


def _backtest(name: str, *extra: str) -> tuple[int, dict[str, Any] | None, str]:
    result = runner.invoke(cli, ["backtest", "--from", WEEK, "--to", WEEK, "--name", name, "--json", *extra])
    return result.exit_code, json.loads(result.stdout) if result.exit_code == 0 else None, result.stderr


def _board(result: dict[str, Any] | None) -> dict[str, Any]:
    assert result is not None
    return {k: v for k, v in result["leaderboard"].items() if k != "source"}


# The leaderboard of a replayed backtest of WEEK never stopped, every answer bought live from the committee's fake:
# the same in every test's books, so bought once per module (by the first test that runs one) and compared with by
# the others.
_STRAIGHT: dict[str, dict[str, Any]] = {}


def _straight(live: str) -> dict[str, Any]:
    """The board of a backtest of WEEK never stopped (`_STRAIGHT`); run here, in the books at `live` with their cache
    emptied so that it buys its own answers, when no test of this module has run one yet."""
    if "board" not in _STRAIGHT:
        _rows(live, "DELETE FROM llm_cache RETURNING key")
        code, straight, err = _backtest("straight", "--replay", "--live-misses", "100")
        assert code == 0, err
        _STRAIGHT["board"] = _board(straight)
    return _STRAIGHT["board"]


def _error_line(stderr: str) -> str:
    # A job that stopped to wait for a provider is said as a wait ("waiting:"), in a backtest too, where the same
    # command run again later goes on; any other stop as an error.
    [line] = [line for line in stderr.splitlines() if line.startswith(("error:", "waiting:"))]
    return line


def test_a_miss_of_one_pitch_stops_the_replay_freezes_no_failed_pm_and_live_misses_finish_it(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    live = cli_env["DATABASE_URL"]
    code, full, err = _backtest("full", "--replay", "--live-misses", "100")
    assert code == 0, err
    _STRAIGHT.setdefault("board", _board(full))  # a run never stopped, its answers bought live
    [(key,)] = _rows(
        _db(live, "full"),
        "SELECT payload->>'cache_key' FROM events WHERE type = 'LLMCallCompleted' AND payload->>'role' = 'pm_pitch'"
        " AND payload->>'model' = 'google/gemini-3-pro-preview'",
    )
    _rows(live, "DELETE FROM llm_cache WHERE key = %s RETURNING key", key)
    sent = len(models.requests)

    code, _, err = _backtest("partial", "--replay")

    assert code == 1 and "Traceback" not in err
    line = _error_line(err)
    for words in ("pm_pitch call to google/gemini-3-pro-preview", f"stopped in week {WEEK}", "--live-misses USD"):
        assert words in line
    books = _db(live, "partial")
    # Before: the miss was frozen as the PM's failed pitch (PitchFailed, "account acct_2 stays flat") for good.
    assert _rows(books, "SELECT count(*) FROM events WHERE type IN ('PitchFailed', 'PitchSubmitted')") == [(0,)]

    code, resumed, err = _backtest("partial", "--replay", "--live-misses", "100")

    assert code == 0, err
    assert len(models.requests) == sent + 1  # the missing pitch only
    assert _board(resumed) == _board(full) == _straight(live)


def test_a_live_miss_the_provider_keeps_failing_stops_with_75_and_the_rerun_ends_with_the_same_db(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    def grok_overloaded(body: dict[str, Any]) -> Fault:
        if body["model"] == "x-ai/grok-4" and "PitchAnswer" in json.dumps(body.get("response_format")):
            return Fault(503, {"error": {"message": "upstream overloaded", "type": "server_error"}})
        return Fault(200, committee_answer(body))

    models.behaviour = grok_overloaded
    code, _, err = _backtest("flaky", "--replay", "--live-misses", "100")

    assert code == 75 and "Traceback" not in err
    line = _error_line(err)
    for words in (f"stopped in week {WEEK}", "x-ai/grok-4", "HTTP 503: upstream overloaded", "run the same command"):
        assert words in line
    assert "asks again what failed" in line  # a backtest's rerun never passes the step's deadline
    # The stage's own words are a live run's ("until <deadline>, then goes on without them"): the note after them
    # says they do not hold here, where it said only "(no deadline passes in a backtest)", read as a contradiction.
    assert line.index("a backtest's rerun never reaches it") > line.index("then goes on without them")

    models.behaviour = None
    code, resumed, err = _backtest("flaky", "--replay", "--live-misses", "100")
    assert code == 0, err
    assert _board(resumed) == _straight(cli_env["DATABASE_URL"])  # a straight run buys its own answers


def test_the_budget_stop_says_the_week_what_was_spent_and_what_to_do(models: FakeOpenAIServer) -> None:
    code, _, err = _backtest("capped", "--replay", "--live-misses", "0.02")
    assert code == 1
    line = _error_line(err)
    for words in ("backtest budget $0.0200 would be passed", "spent", f"stopped in week {WEEK}", "raise --live-misses"):
        assert words in line


def test_the_audit_compares_the_calls_whatever_order_their_live_replies_arrive_in(models: FakeOpenAIServer) -> None:
    def gpt_slow(body: dict[str, Any]) -> Fault:
        if body["model"] == "openai/gpt-5.1":
            time.sleep(0.3)  # its replies arrive last, where the real run (from the cache) records it first
        return Fault(200, committee_answer(body))

    models.behaviour = gpt_slow
    code, result, err = _backtest("ordered", "--replay", "--live-misses", "100", "--audit", "1")

    # Before: the dry run's calls were compared with the real run's in the order their records were written, the order
    # live replies arrived in: 'llm:pm_pitch#0' was another PM's pitch, and a clean pipeline failed as a leak.
    assert code == 0, err
    assert result is not None and [a["passed"] for a in result["audit"]] == [True]


def test_a_provider_failing_in_the_audits_dry_run_stops_the_backtest_and_is_no_look_ahead_verdict(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    failures = {"left": 5}  # every attempt of one call (max_retries 4): the dry run's; the real run's then succeeds

    def overloaded_once(body: dict[str, Any]) -> Fault:
        pitch = body["model"] == "x-ai/grok-4" and "PitchAnswer" in json.dumps(body.get("response_format"))
        if pitch and failures["left"] > 0:
            failures["left"] -= 1
            return Fault(529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        return Fault(200, committee_answer(body))

    models.behaviour = overloaded_once
    code, _, err = _backtest("audited", "--replay", "--live-misses", "100", "--audit", "1")

    # Before: the dry run's failure was taken for a difference from the real run (which got its answer), recorded as
    # LookaheadAuditFailed ("this backtest's results are not evidence"), and the name refused to go on for good.
    assert code == 75, err
    line = _error_line(err)
    assert "HTTP 529: Overloaded" in line and "look-ahead audit failed" not in line
    assert "in the look-ahead audit's cut-off rerun of its weekly run" in line  # where it stopped: not a verdict
    books = _db(cli_env["DATABASE_URL"], "audited")
    assert _rows(books, "SELECT count(*) FROM events WHERE type LIKE 'LookaheadAudit%%'") == [(0,)]

    models.behaviour = None
    code, resumed, err = _backtest("audited", "--replay", "--live-misses", "100", "--audit", "1")
    assert code == 0, err
    assert resumed is not None and [a["passed"] for a in resumed["audit"]] == [True]


def test_the_backtest_budget_holds_across_reruns_over_the_whole_backtest(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    books = _db(cli_env["DATABASE_URL"], "budgeted")

    def spent() -> float:
        [(total,)] = _rows(
            books, "SELECT coalesce(sum((payload->>'cost_usd')::float8), 0) FROM events WHERE type = 'LLMCallCompleted'"
        )
        return float(total)

    code, _, err = _backtest("budgeted", "--replay", "--live-misses", "0.3")
    assert code == 1 and "raise --live-misses" in _error_line(err)
    first = spent()
    assert 0 < first <= 0.3
    # Again under the same ceiling: what it spent counts (only calls that now fit are sent: the first run's answered
    # calls, now from the cache, hold no worst case), and it stops again within it.
    code, _, err = _backtest("budgeted", "--replay", "--live-misses", "0.3")
    assert code == 1 and first <= spent() <= 0.3
    code, _, err = _backtest("budgeted", "--replay", "--live-misses", "0.6")
    assert code in (0, 1), err
    assert spent() <= 0.6


def test_the_llm_picker_failing_for_now_stops_the_backtest_and_the_rerun_runs_the_weeks_discovery(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    def picker_down(body: dict[str, Any]) -> Fault:
        if body["messages"][0]["content"].startswith("You pick symbols"):
            return Fault(503, {"error": {"message": "upstream overloaded", "type": "server_error"}})
        return Fault(200, committee_answer(body))

    models.behaviour = picker_down
    code, _, err = _backtest("picked", "--replay", "--live-misses", "100")

    # Before: said in passing ('backtest discovery ... failed'), the week went on with the last watchlist and was
    # done without its discovery for good.
    assert code == 75, err
    assert "HTTP 503: upstream overloaded" in _error_line(err) and f"stopped in week {WEEK}" in _error_line(err)
    models.behaviour = None
    code, resumed, err = _backtest("picked", "--replay", "--live-misses", "100")
    assert code == 0, err
    books = _db(cli_env["DATABASE_URL"], "picked")
    assert _rows(books, "SELECT count(*) FROM events WHERE type = 'SuggestionsMade' AND payload->>'picker' = 'llm'")[0][
        0
    ]
    assert _board(resumed) == _straight(cli_env["DATABASE_URL"])
