"""Constants and helpers shared by several test modules."""

from __future__ import annotations

import json
import sys
import tempfile
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmtrade.clock import FixedClock
from llmtrade.settings import Settings
from llmtrade.storage import migrations
from llmtrade.storage.bootstrap import Storage, open_storage
from tests.fakes.committee_answers import committee_answer
from tests.fakes.llm_transport import BASE_URL, FakeLLM, fake_llm

if TYPE_CHECKING:
    import psycopg
    import pytest

FIXED_NOW = datetime(2026, 1, 7, 13, 0, tzinfo=UTC)  # Wednesday 08:00 New York
# The same Wednesday as the clock a command reads from LLMTRADE_NOW, so its run is that week's.
WEDNESDAY_8AM = "2026-01-07T08:00:00-05:00"


def assert_obeys(document: Any, schema_text: str) -> None:
    """`document` is valid under the JSON Schema (draft 2020-12) `schema_text`, itself checked against the
    meta-schema, once per schema: jsonschema.validate checks the schema on every call (85 ms
    for run-due's; a kept validator 6 us)."""
    _validator(schema_text).validate(document)


@cache
def _validator(schema_text: str) -> Any:
    import jsonschema

    schema = json.loads(schema_text)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def sent_messages(conn: psycopg.Connection, work: Callable[[], object]) -> list[str]:
    """What `work` sent the server on `conn`, one entry per frontend message ("Query ...", "Parse ...", "Sync", ...),
    read from libpq's protocol trace."""
    from psycopg import pq

    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
        try:
            work()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        return [line.split("\t")[2] for line in trace.read().splitlines() if line.startswith("F\t")]


def stored_events(url: str, **filters: Any) -> list[Any]:
    """The events stored in the database at `url` that match `filters` (EventStore.read's), in order."""
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        return storage.events.read(**filters)


def migrate_around(
    conn: psycopg.Connection, url: str, number: int, fill: Callable[[Storage], None], monkeypatch: pytest.MonkeyPatch
) -> list[int]:
    """Bring the empty database at `url` (`conn`: autocommit) to the shipped migrations before `number`, `fill` it
    through storage opened there, then apply the rest: the numbers that last step applied (an existing database
    meeting a new migration)."""
    shipped = migrations.available()
    monkeypatch.setattr(migrations, "available", lambda: [m for m in shipped if m.number < number])
    migrations.migrate(conn)
    with open_storage(Settings(DATABASE_URL=url), FixedClock(FIXED_NOW)) as storage:
        fill(storage)
    monkeypatch.setattr(migrations, "available", lambda: shipped)
    return [m.number for m in migrations.migrate(conn)]


@contextmanager
def going_live(
    monkeypatch: pytest.MonkeyPatch,
    answer: Callable[[dict[str, Any]], dict[str, Any]] | None = committee_answer,
    *,
    market: str | Path | None = "synthetic",
    delay: float = 0.0,
) -> Iterator[FakeLLM]:
    """A command run inside is live: every model is the fake LLM at LLMTRADE_LLM_BASE_URL, answering `answer` (None:
    the fake's own schema-valid answer). `market` is the providers named (a folder: the CSV files in it; None: the
    test's own), named explicitly because a live run refuses to fall back to the synthetic market unasked."""
    monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", BASE_URL)
    if isinstance(market, Path):
        monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "csv")
        monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(market))
    elif market is not None:
        monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", market)
    with fake_llm(delay=delay) as fake:
        if answer is not None:
            fake.answer = answer
        yield fake


def wake_quietly(monkeypatch: pytest.MonkeyPatch, at: str, day: str = "2026-01-07") -> Any:
    """`llmtrade -q run-due --offline` at `at` (HH:MM, New York) on `day` (FIXED_NOW's Wednesday): cron's wake-up, its
    Result. Offline as asked: a week begun offline for want of a key is said under -q (test_offline_for_want_of_keys)"""
    from typer.testing import CliRunner

    from llmtrade.cli import app

    monkeypatch.setenv("LLMTRADE_NOW", f"{day}T{at}:00-05:00")
    return CliRunner().invoke(app, ["-q", "run-due", "--offline"])


def main_thread_inside(code: types.CodeType) -> bool:
    """Whether the main thread runs inside the function whose code is `code` (a generator's frame counts while a `next`
    of it runs): for a test that signals the process once its main thread waits in a given call, not before."""
    frame = sys._current_frames().get(threading.main_thread().ident or 0)
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


def live_gateway(storage: Storage, *, sleep: Callable[[float], Any] | None = None) -> Any:
    """A live LLMGateway over one OpenAI-compatible client, "fake" at the fake transport's BASE_URL (fake_llm),
    recording into `storage`; `sleep`: the client's waits between attempts (async, given the seconds), none by
    default."""
    from llmtrade.llm.gateway import LLMGateway, LLMMode
    from llmtrade.llm.http_client import OpenAICompatibleClient
    from llmtrade.storage.llm_cache import AnswerCache

    async def no_wait(seconds: float) -> None:
        return None

    client = OpenAICompatibleClient("fake", BASE_URL, "k", sleep=sleep or no_wait)
    return LLMGateway(
        mode=LLMMode.LIVE, clients={"fake": client}, prices={}, events=storage.events, cache=AnswerCache(storage.conn)
    )
