"""`backtest --replay` whose model answered a role invalidly, and again after the repair. The replay cache keeps every
live answer, the invalid ones too (a replay gives what the model said), so a plain `--replay` replays them and stops at
the same job, and says so. A trial's research providers answering prose stopped every `--replay` of that week, under a
new name and with `--live-misses USD` too: nothing missed, so nothing was ever asked anew. Under `--live-misses` a call
whose cached answer and cached repair both failed validation now counts as a miss: asked anew within the budget, its
new answers cached in their place and given back to the live cache. A call whose repair succeeded is replayed as it
was, so a replay of a run that succeeded sends nothing and gives the same books."""

from __future__ import annotations

import json
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


def _research(body: dict[str, Any]) -> bool:
    return schema_name(body) == "ResearchFindings"


def _prose_research(body: dict[str, Any]) -> dict[str, Any]:
    reply = committee_answer(body)
    if _research(body):
        reply["choices"][0]["message"]["content"] = "Markets look mixed this week."
    return reply


def _prose_then_repaired(body: dict[str, Any]) -> dict[str, Any]:
    """Research answers prose, and valid JSON when shown its error (the repair succeeds)."""
    repairing = any(m["role"] == "assistant" for m in body["messages"])
    return committee_answer(body) if repairing else _prose_research(body)


@pytest.fixture
def models(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_backtests: None
) -> FakeOpenAIServer:
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path))
    with FakeOpenAIServer(answer=_prose_research) as fake:
        monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", fake.base_url)
        yield fake


def _backtest(name: str, *extra: str) -> tuple[int, str, dict[str, Any] | None]:
    command = ["backtest", "--from", WEEK, "--to", WEEK, "--name", f"inv-{name}", "--replay", "--json", *extra]
    result = runner.invoke(cli, command)
    board = json.loads(result.stdout)["leaderboard"] if result.exit_code == 0 else None
    return result.exit_code, " ".join(result.stderr.split()), board


def _sources(board: dict[str, Any] | None) -> dict[str, Any]:
    assert board is not None
    return {k: v for k, v in board.items() if k != "source"}


def test_live_misses_ask_anew_a_call_whose_cached_answers_were_invalid_and_a_plain_replay_then_goes_on(
    models: FakeOpenAIServer,
) -> None:
    code, said, _ = _backtest("first", "--live-misses", "100")
    assert code == 1 and "every research provider failed" in said, said
    # Research was never asked before this run: its stop must not say it was asked anew and answered invalidly again
    # (as it did for every stop on invalid answers under --live-misses, the first asking too).
    assert "the model asked live under --live-misses answered invalidly, its repair too" in said, said
    assert "again" not in said.partition("backtest 'inv-first' stopped")[2], said
    sent = len(models.requests)
    code, said, _ = _backtest("plain")  # the invalid answers replayed: said, and what gets past them
    assert len(models.requests) == sent  # a plain --replay asks nothing anew
    assert code == 1 and "a plain --replay replays them and stops here again" in said, said
    assert "run the same command with --live-misses USD to ask those calls anew" in said, said

    models.answer = committee_answer  # the model now answers research as asked
    sent = len(models.requests)
    code, said, bought = _backtest("first", "--live-misses", "100")

    # Before: the invalid answers were replayed, nothing was sent, and it stopped at the same weekly run for good.
    assert code == 0, said
    asked = models.requests[sent:]
    assert asked and _research(asked[0])  # research asked anew; then the weekly run's later calls, never asked before
    anew = "asked anew by this backtest (the cached ones failed validation, or failed for good) replaced in the live"
    assert f"{anew} books' cache" in said

    sent = len(models.requests)
    code, said, replayed = _backtest("again")  # a plain replay under a new name: the new answers, from the cache
    assert code == 0, said
    assert len(models.requests) == sent
    assert _sources(replayed) == _sources(bought)


def test_a_call_whose_cached_repair_succeeded_is_replayed_as_it_was_under_live_misses(
    models: FakeOpenAIServer,
) -> None:
    models.answer = _prose_then_repaired
    code, said, bought = _backtest("repaired", "--live-misses", "100")
    assert code == 0, said
    sent = len(models.requests)
    models.answer = committee_answer  # were a call asked anew, its answer (valid at once) would change the books

    code, said, replayed = _backtest("replayed", "--live-misses", "100")

    assert code == 0, said
    assert len(models.requests) == sent  # nothing asked anew: the first answer's repair is the cached answer
    assert _sources(replayed) == _sources(bought)


def test_an_audited_week_asks_a_call_anew_once_in_its_cut_off_rerun_and_the_real_run_replays_it(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    assert _backtest("seeded", "--live-misses", "100")[0] == 1  # the invalid research answers in the live cache

    sent = len(models.requests)
    code, said, _ = _backtest("audited", "--live-misses", "100", "--audit", "1")

    # Asked anew in the audit's cut-off rerun (invalid again: prose), the real run replays those answers and stops as
    # they do; asked anew again, a different answer would read as a look-ahead leak, and be paid for twice.
    assert code == 1 and "every research provider failed" in said and "look-ahead audit failed" not in said, said
    research = [body for body in models.requests[sent:] if _research(body)]
    assert len(research) == 4  # two providers, each its answer and its repair, once
    books = _db(cli_env["DATABASE_URL"], "inv-audited")
    assert _rows(books, "SELECT count(*) FROM events WHERE type = 'LookaheadAuditFailed'") == [(0,)]

    models.answer = committee_answer
    code, said, _ = _backtest("audited", "--live-misses", "100", "--audit", "1")
    assert code == 0, said  # the rerun's answers, valid now, replayed by the real run: the audit passes
    assert _rows(books, "SELECT count(*) FROM events WHERE type = 'LookaheadAuditPassed'") == [(1,)]
