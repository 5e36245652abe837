"""`backtest --replay`: answers from the live books' replay cache, and with `--live-misses USD` a miss asks the
live model (the real OpenAI-compatible client over HTTP to the loopback fake) under a dollar ceiling over the
whole backtest, its answers cached and given back to the live cache."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.config.models import Price
from llmtrade.domain.events import BudgetRefused, LLMCallCompleted, NewEvent
from llmtrade.llm.budget import backtest_budget
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.database import backtest_database
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.llm_cache import AnswerCache, CachedAnswer
from tests.fakes.committee_answers import committee_answer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support import FIXED_NOW

runner = CliRunner()
WEEK = "2026-01-07"


def _backtest(name: str, *extra: str) -> tuple[int, str, str]:
    result = runner.invoke(cli, ["backtest", "--from", WEEK, "--to", WEEK, "--name", name, "--json", *extra])
    return result.exit_code, result.stdout, result.stderr


def _db(url: str, name: str) -> str:
    head, _, query = url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{backtest_database(name)}" + (f"?{query}" if query else "")


def _rows(url: str, sql: str, *args: object) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, args).fetchall()


@pytest.fixture
def models(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_backtests: None
) -> FakeOpenAIServer:
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path))
    with FakeOpenAIServer(answer=committee_answer) as fake:
        monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", fake.base_url)
        yield fake


def test_misses_ask_the_live_model_once_and_a_plain_replay_then_answers_every_call_from_the_cache(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    code, out, err = _backtest("filled", "--replay", "--live-misses", "100")
    assert code == 0, err
    sent = len(models.requests)
    filled = json.loads(out)
    assert sent > 0 and filled["llm_calls"] >= sent
    live = cli_env["DATABASE_URL"]
    # Said on stderr with --json too (stdout is the result; the messages were dropped): answers given back.
    assert "answers fetched live by this backtest added to the live books' cache" in err
    # Every answer fetched live went back to the live books' cache ...
    assert _rows(live, "SELECT count(*) FROM llm_cache")[0][0] >= sent
    calls = "SELECT payload->>'source', count(*) FROM events WHERE type = 'LLMCallCompleted' GROUP BY 1"
    by_source = dict(_rows(_db(live, "filled"), calls))
    # ... and each was recorded as a live call in the backtest's books; a repeat of the same request was a hit.
    assert by_source["live"] == sent and set(by_source) <= {"live", "cache"}

    code, out, err = _backtest("replayed", "--replay")
    assert code == 0, err
    assert len(models.requests) == sent  # nothing sent: every answer came from the copied-in cache
    replayed = json.loads(out)
    # The same answers, so the same decisions and the same books.
    assert {k: v for k, v in replayed["leaderboard"].items() if k != "source"} == {
        k: v for k, v in filled["leaderboard"].items() if k != "source"
    }


def test_the_backtest_budget_stops_it_before_the_call_that_would_pass_it_and_keeps_what_was_bought(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    code, _, err = _backtest("capped", "--replay", "--live-misses", "0.02")
    assert code == 1, err
    assert "backtest budget $0.0200 would be passed" in err and "Traceback" not in err
    books = _db(cli_env["DATABASE_URL"], "capped")
    refused = _rows(books, "SELECT payload FROM events WHERE type = 'BudgetRefused'")
    assert refused and all(r[0]["budget"] == "backtest" for r in refused)
    costs = _rows(
        books,
        "SELECT (payload->>'cost_usd')::float8 FROM events"
        " WHERE type = 'LLMCallCompleted' AND payload->>'source' = 'live'",
    )
    assert len(costs) == len(models.requests) and sum(c[0] for c in costs) <= 0.02
    # What was bought before the refusal is not lost: it is in the live cache for the next attempt.
    assert _rows(cli_env["DATABASE_URL"], "SELECT count(*) FROM llm_cache")[0][0] == len(costs)


def test_live_misses_need_replay_and_the_models_keys(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = _backtest("nokey", "--offline", "--live-misses", "1")
    assert code == 2 and "--live-misses USD goes with --replay" in err
    monkeypatch.delenv("LLMTRADE_LLM_BASE_URL", raising=False)
    monkeypatch.delenv("LLMTRADE_LLM_API_KEY", raising=False)
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    code, _, err = _backtest("nokey", "--replay", "--live-misses", "1")
    assert code == 2 and "OPENROUTER_API_KEY" in err and "not set" in err


def test_the_backtest_budget_counts_calls_its_sole_writer_holds_unflushed(storage: Storage) -> None:
    """A backtest writes a week at a time: a checkpoint's budget must see the weekly run's calls before they
    reach the database, or a week's jobs together could pass the ceiling."""
    held = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    price = Price(input_per_mtok=1.0, output_per_mtok=2.0)
    models = load_config(None).config.models.model_copy(update={"prices": {"m/priced": price, "m/costed": price}})
    call = {
        "role": "pm_pitch",
        "provider": "fake",
        "source": "live",
        "messages": [],
        "answer": "{}",
        "schema_name": None,
        "outcome": "ok",
        "latency_ms": 1.0,
        "attempts": 1,
        "cache_key": "k",
    }
    held.append(
        [
            NewEvent.of(
                LLMCallCompleted(**call, model="m/costed", prompt_tokens=1, completion_tokens=1, cost_usd=0.25),
                stream="run-1",
            ),
            # No cost recorded: its tokens are priced, 1M prompt tokens at $1 and 1M completion tokens at $2.
            NewEvent.of(
                LLMCallCompleted(
                    **call, model="m/priced", prompt_tokens=1_000_000, completion_tokens=1_000_000, cost_usd=None
                ),
                stream="run-1",
            ),
        ]
    )
    assert storage.conn.execute("SELECT count(*) FROM events").fetchone()[0] == 0  # nothing flushed yet
    budget = backtest_budget(models, held, 5.0)
    assert budget.backtest_before == pytest.approx(3.25)
    refused = budget.reserve("pm_pitch", "m/priced", 1_000_000, 1_000_000)
    assert isinstance(refused, BudgetRefused) and refused.budget == "backtest"  # 3.25 + 3.00 > 5.00
    held.close()


def test_copying_answers_in_keeps_the_ones_held_and_counts_only_the_new(storage: Storage) -> None:
    """A resumed backtest replays the answers it used: a copy from the live cache never overwrites one."""
    cache = AnswerCache(storage.conn)
    used = CachedAnswer("the answer used", 1, 1, 0.1)
    assert cache.add_missing([("k1", "m", used), ("k2", "m", used)]) == 2
    assert cache.add_missing([("k1", "m", CachedAnswer("a newer answer", 1, 1, 0.1)), ("k3", "m", used)]) == 1
    held = cache.get("k1")
    assert held is not None and held.content == "the answer used"


def test_answers_the_look_ahead_audit_buys_count_against_the_backtest_budget(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    # The audit's cut-off dry run asks the same prompts first: its misses were bought live and cached, and its call
    # records dropped with the draft, so the real run read them from the cache at $0 and the ceiling never counted
    # them (found by the replay helper: 97 requests sent, 78 live calls on file).
    code, _, err = _backtest("audit_bought", "--replay", "--live-misses", "100", "--audit", "1")
    assert code == 0, err
    calls = "SELECT count(*) FROM events WHERE type = 'LLMCallCompleted' AND payload->>'source' = 'live'"
    assert _rows(_db(cli_env["DATABASE_URL"], "audit_bought"), calls)[0][0] == len(models.requests) > 0
