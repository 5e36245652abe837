"""`backtest --replay --live-misses USD` killed outright (SIGKILL: the OOM killer, a power cut, systemd's last word):
every answer it bought and cached is on file as a call with its cost, so a resume's budget counts what was paid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.llm.budget import backtest_budget
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.database import backtest_database
from tests.fakes.committee_answers import committee_answer
from tests.fakes.llm_faults import Fault
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support import FIXED_NOW

KILLED_AT = 9  # the ninth request: research and pitches answered, the peer reviews under way


def _books(url: str, name: str) -> str:
    head, _, query = url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{backtest_database(name)}" + (f"?{query}" if query else "")


def test_a_killed_backtest_keeps_a_record_of_every_answer_it_bought(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"kill{uuid.uuid4().hex[:8]}"
    process: dict[str, subprocess.Popen[str]] = {}
    seen = {"n": 0}
    lock = threading.Lock()

    def answer_then_die(body: dict[str, Any]) -> Fault:
        with lock:
            seen["n"] += 1
            if seen["n"] == KILLED_AT:
                os.killpg(process["p"].pid, signal.SIGKILL)  # its draws worker too, as systemd kills a unit
        return Fault(200, committee_answer(body))

    with FakeOpenAIServer() as fake:
        fake.behaviour = answer_then_die
        env = {**cli_env, "LLMTRADE_HOME": str(tmp_path), "LLMTRADE_LLM_BASE_URL": fake.base_url}
        command = [sys.executable, "-m", "llmtrade", "backtest", "--from", "2026-01-07", "--to", "2026-01-14"]
        process["p"] = subprocess.Popen(
            [*command, "--name", name, "--replay", "--live-misses", "100"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert process["p"].wait(timeout=120) == -signal.SIGKILL

    books = _books(cli_env["DATABASE_URL"], name)
    with psycopg.connect(books) as conn:
        cached = dict(conn.execute("SELECT key, cost_usd FROM llm_cache").fetchall())
        recorded = {
            row[0]
            for row in conn.execute(
                "SELECT payload->>'cache_key' FROM events"
                " WHERE type = 'LLMCallCompleted' AND payload->>'source' = 'live'"
            )
        }
    assert len(cached) >= KILLED_AT - 4  # bought before the kill (a few may have been in flight)
    # Every answer in the cache was paid for: its call is on file (before, the cache's commit went to the database
    # at once and the calls' records waited in memory for the week's end, and died with the process).
    assert set(cached) <= recorded
    # So the resumed backtest's budget starts from what was paid, not from nothing.
    with open_storage(Settings(DATABASE_URL=books), FixedClock(FIXED_NOW)) as storage:
        budget = backtest_budget(load_config(None).config.models, storage.events, 100.0)
    assert budget.backtest_before == pytest.approx(sum(cached.values()))
