"""A `--live-misses` backtest whose run went on without a member that failed for good (its pitch cut at max_tokens
and cut again on its repair, or withheld by a content filter: a degraded run) finished with exit 0, but the failed
reply was never cached (only answers were). A plain `--replay` of the same weeks under another name then missed that
call and stopped (exit 1, "no cached answer ... run it live once first", though it had been), and `--live-misses`
bought it again, a model answering it this time giving other books. Found against a loopback OpenRouter-like server
that cut grok's pitches at max_tokens. Now the failure is cached as what the live call got: the plain replay sends
nothing and gives the same leaderboard, and under `--live-misses` the call is asked anew once, as one whose cached
answers failed validation is. The models are the loopback fake (tests/fakes/openai_server.py); requests are counted.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.fakes import llm_faults as f
from tests.fakes.committee_answers import committee_answer
from tests.fakes.openai_server import FakeOpenAIServer, schema_name
from tests.test_backtest_replay import _backtest, _db, _rows
from tests.test_backtest_replay import models as models

GROK = "x-ai/grok-4"
# Each with the names of its two backtests: a backtest's database outlives its test on the session's server.
FAILURES = {"cut at max_tokens twice": (f.truncated(), "cut"), "content filter": (f.content_filter(), "filtered")}


def _grok_fails(step: f.Step) -> Any:
    def behaviour(body: dict[str, Any]) -> f.Fault:
        if body["model"] == GROK and schema_name(body) == "PitchAnswer":
            return step(body)
        return f.Fault(200, committee_answer(body))

    return behaviour


def _board(out: str) -> dict[str, Any]:
    return {k: v for k, v in json.loads(out)["leaderboard"].items() if k != "source"}


@pytest.mark.parametrize("failure", list(FAILURES), ids=list(FAILURES))
def test_a_plain_replay_meets_the_final_failure_the_live_misses_run_met_and_gives_the_same_books(
    models: FakeOpenAIServer, cli_env: dict[str, str], failure: str
) -> None:
    step, name = FAILURES[failure]
    models.behaviour = _grok_fails(step)
    code, bought, err = _backtest(f"{name}-bought", "--replay", "--live-misses", "100")
    assert code == 0, err
    assert json.loads(bought)["degraded_runs"] == 1  # grok's PM left out of the week
    assert "that failed for good fetched live by this backtest added to the live books' cache" in err  # not answers
    sent = len(models.requests)

    code, replayed, err = _backtest(f"{name}-replayed", "--replay")

    # Before: exit 1, "--replay: no cached answer for the pm_pitch call to x-ai/grok-4".
    assert code == 0, err
    assert "that failed for good copied in from the live books' cache" in err
    assert len(models.requests) == sent  # nothing sent
    assert json.loads(replayed)["degraded_runs"] == 1
    assert _board(replayed) == _board(bought)
    failed = _rows(
        _db(cli_env["DATABASE_URL"], f"{name}-replayed"),
        "SELECT payload->>'provider', payload->>'note' FROM events WHERE type = 'LLMCallFailed'"
        " AND payload->>'model' = %s",
        GROK,
    )
    assert failed and all(provider == "cache" for provider, _ in failed)


def test_live_misses_ask_a_cached_final_failure_anew_once(models: FakeOpenAIServer, cli_env: dict[str, str]) -> None:
    models.behaviour = _grok_fails(f.truncated())
    code, _, err = _backtest("anew-bought", "--replay", "--live-misses", "100")
    assert code == 0, err
    models.behaviour = None  # grok answers now
    sent = len(models.requests)

    code, out, err = _backtest("anew", "--replay", "--live-misses", "100")

    assert code == 0, err
    assert json.loads(out)["degraded_runs"] == 0
    asked = [r for r in models.requests[sent:] if r["model"] == GROK and schema_name(r) == "PitchAnswer"]
    assert len(asked) == 1  # the pitch asked anew, once
    notes = _rows(
        _db(cli_env["DATABASE_URL"], "anew"),
        "SELECT payload->>'note' FROM events WHERE type = 'LLMCallCompleted' AND payload->>'source' = 'live'",
    )
    assert any("asked anew under --live-misses" in (note or "") for (note,) in notes)
