"""A backtest's call records are held in memory until the week's end (storage/sole_writer.py); a live answer's record
is flushed with its cache entry at once (llm/recorder.py), so a SIGKILL loses no spend the budget counts. A failed
call whose replies were billed (cut off after its 200, truncated, an error inside a 200) caches nothing: its record,
and the dollars it counts, stayed in memory, and a backtest killed before the week's end resumed with its
`--live-misses` budget counting them as never spent."""

from __future__ import annotations

import asyncio

import psycopg

from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.events import LLMCallFailed, NewEvent
from llmtrade.llm.budget import backtest_budget
from llmtrade.llm.recorder import Recorder
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.llm_cache import AnswerCache
from tests.support import FIXED_NOW


def _failed(*, billed: bool) -> NewEvent:
    failed = LLMCallFailed(
        role="pm_pitch",
        provider="openrouter",
        model="x-ai/grok-4",
        messages=[],
        error_type="LLMUnavailable",
        error="HTTP 200 carrying error 502: Provider returned error",
        cache_key="k",
        cost_counted_usd=0.25 if billed else None,
        cut_off_attempts=5 if billed else 0,
        billed=billed,
    )
    return NewEvent.of(failed, stream="run-1")


def _on_disk(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM events WHERE type = 'LLMCallFailed'").fetchone()[0]


def test_a_billed_failed_calls_record_is_on_disk_once_written(storage: Storage, database_url: str) -> None:
    held = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    recorder = Recorder(held, AnswerCache(storage.conn), inline=True)

    asyncio.run(recorder.write(_failed(billed=True)))

    # Before: 0, the record held in memory with the week's other events, and lost to a SIGKILL.
    assert _on_disk(database_url) == 1
    # So a killed backtest's resume starts its budget from what was paid.
    with psycopg.connect(database_url) as conn:
        fresh = EventStore(conn, FixedClock(FIXED_NOW))
        budget = backtest_budget(load_config(None).config.models, fresh, 1.0)
    assert budget.backtest_before == 0.25
    held.close()


def test_a_failed_call_that_cost_nothing_waits_for_the_weeks_end(storage: Storage, database_url: str) -> None:
    held = EventStore(storage.conn, FixedClock(FIXED_NOW), exclusive=True)
    recorder = Recorder(held, AnswerCache(storage.conn), inline=True)

    asyncio.run(recorder.write(_failed(billed=False)))

    assert _on_disk(database_url) == 0  # nothing spent to lose: the week's one write keeps a backtest fast
    held.close()
