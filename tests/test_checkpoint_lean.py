"""A backtest checkpoint's kept work (issue 13): each cache answers what the work it saves would answer, and none
serves a stale answer when what it was made from changes.

Call records stored on the loop for a store holding its appends in memory; a request's content address with the
schema's text kept; a plain-text prompt template's text kept per compiled template; a recollection's line kept per
recollection; a job's retry deadline kept per schedule and calendar; the cached bars' source kept per slice."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import threading
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from llmtrade.agents.checkpointer import answer_schema
from llmtrade.agents.memory_notes import describe, within_budget
from llmtrade.clock import FixedClock
from llmtrade.config.models import ScheduleConfig
from llmtrade.domain.events import NewEvent, StageStarted
from llmtrade.domain.memory import Recollection
from llmtrade.llm.recorder import Recorder
from llmtrade.llm.structured import strict_schema
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.llm.wire import cache_key
from llmtrade.market.bar_sources import sources_of
from llmtrade.market.calendar import TradingCalendar
from llmtrade.prompts.renderer import PromptRenderer
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.job_deadlines import _retry_deadline, retry_deadline
from llmtrade.workflows.schedule import JobKind
from tests.fakes.sinks import SinkOver
from tests.market_series import good_bars
from tests.test_memory_use_units import _hit

STREAM = "run:lean-test"


class OnWhichThread(SinkOver):
    """The real store, noting each append's batch and the thread it ran on."""

    def __init__(self, events: EventStore):
        super().__init__(events)
        self.batches: list[list[str]] = []
        self.threads: list[int] = []

    def append(self, events: Sequence[NewEvent], **kw: Any) -> object:
        self.batches.append([e.payload["stage"] for e in events])
        self.threads.append(threading.get_ident())
        return super().append(events, **kw)


def _event(i: int) -> NewEvent:
    return NewEvent.of(StageStarted(stage=f"s{i}"), stream=STREAM, run_id="lean-test")


def _written(recorder: Recorder, store: EventStore) -> list[int]:
    """Six concurrent writes; what the stream holds when each returns."""
    seen: list[int] = []

    async def write(i: int) -> None:
        await recorder.write(_event(i))
        seen.append(len(store.read_stream(STREAM)))

    async def main() -> None:
        await asyncio.gather(*(write(i) for i in range(6)))

    asyncio.run(main())
    return seen


def test_inline_records_are_stored_on_the_loop_in_the_batches_a_worker_thread_would_store(
    storage: Storage, clock: FixedClock
) -> None:
    threaded = OnWhichThread(storage.events)
    seen = _written(Recorder(threaded, None), storage.events)
    assert (threaded.batches, seen) == ([[f"s{i}" for i in range(6)]], [6] * 6)
    assert threaded.threads != [threading.get_ident()]  # the default: a worker thread

    store = EventStore(storage.conn, clock, exclusive=True)
    inline = OnWhichThread(store)
    seen = _written(Recorder(inline, None, inline=True), store)
    assert (inline.batches, seen) == ([[f"s{i}" for i in range(6)]], [12] * 6)
    assert inline.threads == [threading.get_ident()]  # this thread: asyncio.run's loop
    store.flush()


def test_only_a_store_holding_its_appends_says_so(storage: Storage, clock: FixedClock) -> None:
    held = EventStore(storage.conn, clock, exclusive=True)
    assert (storage.events.holds_appends, held.holds_appends, held.draft().holds_appends) == (False, True, True)
    assert storage.events.draft().holds_appends is False


def _reference_key(request: ChatRequest) -> str:
    material = {
        "model": request.model,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "messages": [m.model_dump() for m in request.messages],
        "schema": request.json_schema,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _request(schema: dict | None, content: str = "Checkpoint 12:00 — “P/L” +1.5%\n") -> ChatRequest:
    messages = (ChatMessage(role="system", content="sys ü"), ChatMessage(role="user", content=content))
    return ChatRequest(model="openai/gpt-é", messages=messages, temperature=0.25, max_tokens=900, json_schema=schema)


def test_a_requests_content_address_is_the_whole_requests_json_digest_with_the_schemas_text_kept() -> None:
    schema = strict_schema(answer_schema(2))
    for asked in (None, schema, {"type": "object", "enum": [1, 2.5, "é"]}):
        request = _request(asked)
        assert cache_key(request) == _reference_key(request) == cache_key(request)  # the second from the kept text
    # Another schema with the same members' names is its own text; a changed message its own key.
    other = {**schema, "properties": {"move": {"type": "string"}}}
    assert cache_key(_request(other)) == _reference_key(_request(other)) != cache_key(_request(schema))
    assert cache_key(_request(schema, "other")) == _reference_key(_request(schema, "other"))
    # Every character json escapes (quote, backslash, controls, DEL, non-ASCII, a surrogate pair) as json.dumps does.
    awkward = _request(None, 'q"b\\s/\x00\x1f\x7f\t\r\u2028é😀\ud800')
    assert cache_key(awkward) == _reference_key(awkward)


# A checkpoint prompt's variables for one long SPY position (each is passed as `values` too).
CHECKPOINT_VALUES = {
    "instrument": "SPY",
    "direction": "LONG",
    "conviction": 1,
    "thesis": ["up"],
    "watched": [],
    "close_only": False,
    "outside": False,
}


def test_a_plain_text_template_is_rendered_once_and_an_edited_override_reaches_the_next_command(tmp_path: Path) -> None:
    system = tmp_path / "checkpoint.system.j2"
    system.write_text("Manage the position.\n", encoding="utf-8")
    renderer = PromptRenderer(tmp_path)
    values = CHECKPOINT_VALUES
    first = renderer.render("checkpoint", values=values, pnl_pct=0.01, time="12:00", memory=(), **values)
    again = renderer.render("checkpoint", values=values, pnl_pct=0.01, time="12:00", memory=(), **values)
    assert first.system == again.system == "Manage the position."
    system.write_text("Manage it {{ time }}.\n", encoding="utf-8")  # no longer plain text: rendered each time
    stamp = system.stat().st_mtime + 5
    os.utime(system, (stamp, stamp))
    # A run's prompts do not change under it (each template is read once per process): the next command's do.
    kept = renderer.render("checkpoint", values=values, pnl_pct=0.01, time="14:00", memory=(), **values)
    assert kept.system == "Manage the position."
    edited = PromptRenderer(tmp_path).render(
        "checkpoint", values=values, pnl_pct=0.01, time="14:00", memory=(), **values
    )
    assert edited.system == "Manage it 14:00."
    assert "Checkpoint 14:00 New York." in edited.user  # the user prompt follows its variables


def test_a_recollections_line_is_its_description_and_another_recollection_gets_its_own() -> None:
    hits = [_hit(1, 0.02, rank=1), _hit(2, -0.01, rank=2)]
    lines, ids = within_budget(hits, 10_000)
    assert lines == tuple(describe(h) for h in hits) == within_budget(hits, 10_000)[0]
    # The same memory id with another outcome (a later week's look): a new object, its own line.
    later = _hit(1, -0.05, rank=1)
    assert within_budget([later], 10_000)[0] == (describe(later),) != (describe(hits[0]),)
    assert isinstance(later, Recollection) and ids == (hits[0].memory_id, hits[1].memory_id)


def test_a_kept_retry_deadline_is_the_computed_one_and_another_schedule_gets_its_own() -> None:
    calendar, week, day = TradingCalendar(), date(2026, 1, 7), date(2026, 1, 8)
    schedule = ScheduleConfig()
    for hhmm in ("09:00", "12:00", "15:50"):
        kept = retry_deadline(schedule, calendar, JobKind.CHECKPOINT, week, day, hhmm)
        assert kept == _retry_deadline(schedule, calendar, JobKind.CHECKPOINT, week, day, hhmm)
        assert retry_deadline(schedule, calendar, JobKind.CHECKPOINT, week, day, hhmm) == kept
    fewer = ScheduleConfig(checkpoints=["12:00"])
    assert retry_deadline(fewer, calendar, JobKind.CHECKPOINT, week, day, "12:00") != retry_deadline(
        schedule, calendar, JobKind.CHECKPOINT, week, day, "12:00"
    )


def test_the_cached_bars_source_is_found_once_per_slice_and_fresh_bars_are_looked_through() -> None:
    spy, tlt = good_bars("SPY", "csv"), good_bars("TLT", "synthetic")
    first = sources_of({"SPY": spy, "TLT": tlt}, "x")
    assert first == sources_of({"SPY": spy[:], "TLT": tlt[:]}, "x") == "csv,synthetic"
    assert sources_of({"SPY": good_bars("SPY", "stooq")}, "x") == "stooq"  # other objects: their own sources
    assert sources_of({"SPY": []}, "fallback") == "fallback"


def test_what_a_command_says_its_prompts_were_is_the_text_it_renders_after_an_edit(tmp_path: Path) -> None:
    # Each template is compiled once per renderer (auto_reload off); its digest and the fingerprint a held answer is
    # kept under (pipeline/retry.py) read the files again, so after an edit midway they named the new text while the
    # prompts were still the old one's: a rerun under the new text reused answers asked with the old.
    from llmtrade.agents.checkpointer import read_templates

    system = tmp_path / "checkpoint.system.j2"
    system.write_text("Manage the position.\n", encoding="utf-8")
    user = tmp_path / "checkpoint.user.j2"
    text = "Checkpoint {{ time }} for {{ instrument }}.\n"
    user.write_text(text, encoding="utf-8")
    renderer = PromptRenderer(tmp_path)
    renderer._compile_all()  # warm_up's: every template compiled before the run's first render
    fingerprint = renderer.fingerprint()

    system.write_text("Manage it {{ time }}.\n", encoding="utf-8")
    user.unlink()  # the packaged checkpoint.user.j2 from now on, for the next command
    stamp = system.stat().st_mtime + 5
    os.utime(system, (stamp, stamp))

    assert renderer.render_template("checkpoint.system.j2", time="12:00") == "Manage the position."
    assert renderer.fingerprint() == fingerprint
    assert renderer.source_digest("checkpoint.user.j2") == hashlib.sha256(text.encode()).hexdigest()
    # The override is what renders (not the packaged text `_user_text` writes without Jinja).
    assert read_templates(renderer).packaged is False
    assert PromptRenderer(tmp_path).fingerprint() != fingerprint  # the next command reads the edit
