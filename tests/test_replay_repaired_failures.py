"""A live answer cut at max_tokens (or empty) and then repaired is replayed as it went: the failed first reply is in
the replay cache beside the repair's answer. Before, only answers were cached: a `--replay` of a week that succeeded
live after such a repair missed at that call ('no cached answer for the pm_pitch call to openai/gpt-5.1'), and
`--live-misses` paid for the truncated first answer again (found in the replay trial against a loopback provider whose
first pitch came back with finish_reason "length"). A call whose repair failed too caches no failure: `--live-misses`
asks it again, and a later replay gets the new answer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.fakes.committee_answers import committee_answer
from tests.fakes.openai_server import FakeOpenAIServer, schema_name
from tests.test_backtest_replay import _db, _rows

runner = CliRunner()
WEEK = "2026-01-07"


def _gpt_pitch(body: dict[str, Any]) -> bool:
    return body["model"] == "openai/gpt-5.1" and schema_name(body) == "PitchAnswer"


def _first(body: dict[str, Any]) -> bool:
    return not any(m["role"] == "assistant" for m in body["messages"]) and len(body["messages"]) == 2


def _cut_first(then: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """gpt's first pitch cut at max_tokens (half its JSON, finish_reason "length"); its repair answered by `then`."""

    def answer(body: dict[str, Any]) -> dict[str, Any]:
        if not _gpt_pitch(body):
            return committee_answer(body)
        if not _first(body):
            return then(body)
        reply = committee_answer(body)
        choice = reply["choices"][0]
        choice["message"]["content"] = choice["message"]["content"][:40]
        choice["finish_reason"] = "length"
        reply["usage"]["completion_tokens"] = body["max_tokens"]
        return reply

    return answer


def _empty_first(body: dict[str, Any]) -> dict[str, Any]:
    reply = committee_answer(body)
    if _gpt_pitch(body) and _first(body):
        reply["choices"][0]["message"]["content"] = ""
        reply["usage"]["completion_tokens"] = 17  # tokens spent: the model's own empty answer, repaired once
    return reply


def _prose(body: dict[str, Any]) -> dict[str, Any]:
    reply = committee_answer(body)
    reply["choices"][0]["message"]["content"] = "I would rather wait for a better entry."
    return reply


@pytest.fixture
def models(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_backtests: None
) -> Iterator[FakeOpenAIServer]:
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path))
    with FakeOpenAIServer(answer=committee_answer) as fake:
        monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", fake.base_url)
        yield fake


def _backtest(name: str, *extra: str) -> tuple[int, str, dict[str, Any] | None]:
    command = ["backtest", "--from", WEEK, "--to", WEEK, "--name", f"rf-{name}", "--replay", "--json", *extra]
    result = runner.invoke(cli, command)
    board = json.loads(result.stdout)["leaderboard"] if result.exit_code == 0 else None
    return result.exit_code, " ".join(result.stderr.split()), board


def _sources(board: dict[str, Any] | None) -> dict[str, Any]:
    assert board is not None
    return {k: v for k, v in board.items() if k != "source"}


@pytest.mark.parametrize(("kind", "first"), [("cut", _cut_first(committee_answer)), ("empty", _empty_first)])
def test_a_week_whose_answer_was_repaired_after_a_truncated_or_empty_one_replays_with_nothing_sent(
    models: FakeOpenAIServer, cli_env: dict[str, str], kind: str, first: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    models.answer = first  # (a backtest's database is named by it on the test server: a name of its own per case)
    code, said, bought = _backtest(f"{kind}-bought", "--live-misses", "100")
    assert code == 0, said
    assert len([body for body in models.requests if _gpt_pitch(body)]) == 2  # the failed first answer, its repair
    sent = len(models.requests)

    code, said, replayed = _backtest(f"{kind}-replayed")

    # Before: exit 1, '--replay: no cached answer for the pm_pitch call to openai/gpt-5.1'.
    assert code == 0, said
    assert len(models.requests) == sent
    assert _sources(replayed) == _sources(bought)
    books = _db(cli_env["DATABASE_URL"], f"rf-{kind}-replayed")
    failed = "SELECT payload->>'provider' FROM events WHERE type = 'LLMCallFailed' AND payload->>'role' = 'pm_pitch'"
    assert _rows(books, failed) == [("cache",)]  # the replayed failure is on file, as the live one is, at no cost


def test_live_misses_ask_again_a_call_cut_at_max_tokens_whose_repair_failed_validation(
    models: FakeOpenAIServer,
) -> None:
    models.answer = _cut_first(_prose)  # cut, then prose when asked for a shorter answer: gpt's PM fails
    code, said, _ = _backtest("seeded", "--live-misses", "100")
    assert code == 0 and len([body for body in models.requests if _gpt_pitch(body)]) == 2, said

    models.answer = committee_answer  # the model now answers at once
    sent = len(models.requests)
    code, said, _ = _backtest("anew", "--live-misses", "100")

    assert code == 0, said
    assert [body for body in models.requests[sent:] if _gpt_pitch(body)]  # asked again, no failure replayed
    sent = len(models.requests)
    assert _backtest("plain")[0] == 0 and len(models.requests) == sent  # and then replayed with nothing sent
