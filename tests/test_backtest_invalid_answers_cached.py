"""`backtest --replay --live-misses USD` whose live model answered a role invalidly, and again after the repair: the
replay cache keeps every live answer, the invalid ones too (a replay gives what the model said), so the same command
replays them and stops at the same job for good. A trial's research providers answering prose: the stop said only
that every research provider failed and where, and the user ran the same command again, paid nothing and met the same
stop, with no word on why or on what could go on. The stop now says it: the answers are in the replay cache, the same
command meets them again, and what does go on (the range offline under a new name, or a changed prompt, asked anew)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from tests.fakes.committee_answers import committee_answer
from tests.fakes.openai_server import FakeOpenAIServer

runner = CliRunner()
WEEK = "2026-01-07"


def _prose_research(body: dict[str, Any]) -> dict[str, Any]:
    reply = committee_answer(body)
    fmt = (body.get("response_format") or {}).get("json_schema") or {}
    if fmt.get("name") == "ResearchFindings":
        reply["choices"][0]["message"]["content"] = "Markets look mixed this week."
    return reply


@pytest.fixture
def models(cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAIServer:
    monkeypatch.setenv("LLMTRADE_HOME", str(tmp_path))
    with FakeOpenAIServer(answer=_prose_research) as fake:
        monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", fake.base_url)
        yield fake


def test_a_stop_on_invalid_answers_says_the_replay_cache_holds_them(
    models: FakeOpenAIServer, cli_env: dict[str, str]
) -> None:
    command = ["backtest", "--from", WEEK, "--to", WEEK, "--name", "prose", "--replay", "--live-misses", "100"]
    first = runner.invoke(cli, command)
    assert first.exit_code == 1, first.output
    assert "every research provider failed" in first.stderr, first.stderr
    sent = len(models.requests)
    again = runner.invoke(cli, command)
    assert again.exit_code == 1, again.output
    assert len(models.requests) == sent  # replayed: the same invalid answers, nothing asked anew
    for stop in (first.stderr, again.stderr):
        said = " ".join(stop.split())
        assert "the model's invalid answers it stopped on are in the replay cache" in said, said
        assert "the same command replays them and stops here again" in said, said
        assert "--offline under a new --name" in said, said
