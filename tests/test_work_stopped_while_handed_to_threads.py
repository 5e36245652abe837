"""A stop (SIGTERM, Ctrl-C: a KeyboardInterrupt in the main thread) landing while a job hands blocking work to a thread
of the loop's executor: none of it is done behind the job's end (after the command recorded the run failed and closed
its connection), and what must be on file (a model call's record) is on file when the job has ended.

As in test_orders_stopped_while_handed_to_threads: the stop is raised in the main thread just after it started the
thread the work was queued for, before the executor counted that thread among those its shutdown waits for, and
the thread goes on only once the job has ended, as one a loaded machine schedules late."""

from __future__ import annotations

import ast
import threading
import unicodedata
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import llmtrade
from llmtrade.app.job_loop import run_job
from llmtrade.domain.events import NewEvent
from llmtrade.llm.recorder import Recorder
from llmtrade.memory.protocol import Memory
from llmtrade.pipeline.context import PipelineContext
from llmtrade.stops import Terminated
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.committee_stages import FAILED_PMS, PITCHES
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.memory_stages import RememberResearchStage
from llmtrade.workflows.research_stages import SNAPSHOT
from llmtrade.workflows.trading_stages import RiskPrepStage
from llmtrade.workflows.workbench import Side
from tests.test_plan_abandoned import CONFIG, WEEK, _desk

_REAL_START = threading.Thread.start


@contextmanager
def _stopped_as_the_first_thread_starts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Within the block, the first thread started raises the stop in its start, and runs only once the function the
    block gives is called (at the job's end). On leaving, that thread is released and joined."""
    job_ended = threading.Event()
    started: list[threading.Thread] = []

    def start(self: threading.Thread) -> None:
        if started:
            _REAL_START(self)
            return
        started.append(self)
        run = self.run
        self.run = lambda: (job_ended.wait(30), run())  # type: ignore[method-assign]
        _REAL_START(self)
        raise Terminated  # the SIGTERM handler's raise, landing in the thread's start (Thread.start waits for it)

    try:
        with monkeypatch.context() as patched:
            patched.setattr(threading.Thread, "start", start)
            yield job_ended.set
    finally:
        job_ended.set()
        for thread in started:
            thread.join(30)
            assert not thread.is_alive()
    assert started, "no thread was started: the stop never landed"


def _stopped(work: Coroutine[Any, Any, Any]) -> None:
    with pytest.raises(Terminated):
        run_job(work)


def _calls(storage: Storage) -> list[str]:
    return [e.payload["call"] for e in storage.events.read(type="LLMCallCompleted")]


def test_a_model_calls_record_handed_to_a_thread_as_the_stop_lands_is_on_file_when_the_job_ends(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(storage.events, None)  # a live command's: its batches stored on a worker thread
    record = NewEvent(type="LLMCallCompleted", stream="llm:calls", payload={"call": "c1"})
    with _stopped_as_the_first_thread_starts(monkeypatch) as job_ended:
        _stopped(recorder.write(record))
        # Here the command records the run failed and closes its connection: the paid call must be on file by now.
        assert _calls(storage) == ["c1"]
        job_ended()
    assert _calls(storage) == ["c1"]  # and once: the late thread stored nothing


def test_a_memory_stages_side_work_handed_to_a_thread_as_the_stop_lands_is_never_done_after_the_job_ended(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []

    @contextmanager
    def side() -> Iterator[Side]:
        opened.append("side")  # in the CLI: a new connection, opened while (or after) the run's own is closed
        yield Side(events=storage.events, memory=None)

    def remember(events: EventStore, memory: Memory | None) -> None:
        # What `remember` writes over the side connection: a week's memory part, its rows projected with it.
        events.append([NewEvent(type="MemoryRemembered", stream="memory:2026-01-07:research")])

    stage = RememberResearchStage(SimpleNamespace(side=side), dry_run=False)  # type: ignore[arg-type]
    with _stopped_as_the_first_thread_starts(monkeypatch) as job_ended:
        _stopped(stage._on_side(remember))
        job_ended()
    assert opened == []  # the thread that reached the work after the job ended did nothing
    assert storage.events.read(type="MemoryRemembered") == []


def test_risk_prep_handed_to_a_thread_as_the_stop_lands_records_nothing_after_the_job_ended(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    desk = _desk(storage, 0)  # a PM's account: prepared before the chairman's decision
    stage = RiskPrepStage([desk], CONFIG, storage.events, WEEK, overlaps=True)
    planned: list[str] = []

    def plan(desk: Desk, *args: Any, **kw: Any) -> list[Any]:
        # What planning records as it goes (the account's reconciliation, its week-start valuation) on the run's own
        # connection: in the CLI, after the run's failure was recorded, or failing on the closed connection.
        planned.append(desk.account.id)
        storage.events.append([NewEvent(type="AccountValued", stream="week:2026-01-07:risk-prep")])
        return []

    monkeypatch.setattr(stage, "held_prices", lambda snapshot: None)
    monkeypatch.setattr(stage, "plan", plan)
    context = PipelineContext(run_id="r", values={SNAPSHOT.name: None, PITCHES.name: [], FAILED_PMS.name: []})
    with _stopped_as_the_first_thread_starts(monkeypatch) as job_ended:
        _stopped(stage.run(context))
        job_ended()
    assert planned == []
    assert storage.events.read(type="AccountValued") == []


def test_no_work_is_handed_to_a_thread_but_through_threads_py() -> None:
    """`asyncio.to_thread` (or a loop's run_in_executor) anywhere but threads.py is work a stop can leave running
    behind the job's end, as each of the cases above did."""
    package = Path(llmtrade.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.name == "threads.py":
            continue
        text = path.read_text()
        # Only a module naming one of them can hold the attribute: parsed alone, not all ~500 (1.4 s of CPU). NFKC, as
        # Python reads identifiers: a look-alike spelling is still parsed.
        if not any(word in unicodedata.normalize("NFKC", text) for word in ("to_thread", "run_in_executor")):
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Attribute) and node.attr in {"to_thread", "run_in_executor"}:
                found.append(f"{path.relative_to(package)}:{node.lineno}")
    assert found == []
