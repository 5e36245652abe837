"""The trace id and the log context (domain/tracing.py) and where lines go (observe/logs.py), without a database."""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from llmtrade.domain.events import StoredEvent
from llmtrade.domain.tracing import bind_run, bound, for_account, log_appended, restore, trace_id_of
from llmtrade.observe.logs import _utc_stamp, configure

_log = logging.getLogger("llmtrade.test")


def _lines(home: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (home / "logs" / "llmtrade.jsonl").read_text().splitlines()]


def test_the_trace_id_is_w3c_shaped_and_derived_from_the_run_id_alone() -> None:
    first = trace_id_of("20260107T130000Z-3f9a1c")
    assert re.fullmatch(r"[0-9a-f]{32}", first) and first != "0" * 32
    assert trace_id_of("20260107T130000Z-3f9a1c") == first
    assert trace_id_of("20260107T130000Z-3f9a1d") != first


def test_concurrent_tasks_and_account_threads_keep_their_own_log_context(tmp_path: Path) -> None:
    handlers = configure(lambda: tmp_path)

    async def account(name: str) -> None:
        with bound(account=name):
            for n in range(3):
                _log.info("task", extra={"fields": {"n": n}})
                await asyncio.sleep(0)  # the other task logs in between
            await asyncio.to_thread(for_account(f"{name}-thread", lambda: _log.info("thread")))

    async def run() -> None:
        with bound(stage="execution"):
            await asyncio.gather(account("acct_1"), account("acct_2"))

    outer = bind_run("20260107T130000Z-3f9a1c", date(2026, 1, 7))
    try:
        asyncio.run(run())
        _log.info("after")
    finally:
        restore(outer)
        handlers.close()
    _log.info("not configured: written nowhere")
    lines = _lines(tmp_path)
    assert len(lines) == 9
    tasks = [line for line in lines if line["msg"] == "task"]
    assert sorted((line["account"], line["n"]) for line in tasks) == [
        (a, n) for a in ("acct_1", "acct_2") for n in range(3)
    ]
    assert [line["account"] for line in lines[:2]] == ["acct_1", "acct_2"]  # interleaved, each kept its own
    assert sorted(line["account"] for line in lines if line["msg"] == "thread") == ["acct_1-thread", "acct_2-thread"]
    assert all(line["run_id"] == "20260107T130000Z-3f9a1c" for line in lines)
    assert all(line["trace_id"] == trace_id_of("20260107T130000Z-3f9a1c") for line in lines)
    assert all(line["week"] == "2026-01-07" for line in lines)
    assert all(line["stage"] == "execution" for line in lines[:-1])
    assert "stage" not in lines[-1] and "account" not in lines[-1]


def test_verbose_shows_readable_lines_but_never_repeats_the_run_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handlers = configure(lambda: tmp_path, verbose=True)
    events = logging.getLogger("llmtrade.events")

    def log() -> None:
        with bound(run_id="r1", stage="research"):
            events.info("StageCompleted", extra={"fields": {"duration_ms": 12.5}})
            events.error("RunFailed", extra={"fields": {"error": "boom"}})

    try:
        # An empty context: a run an earlier test started in this thread and never ended leaves its week bound.
        contextvars.Context().run(log)
    finally:
        handlers.close()
    err = capsys.readouterr().err
    assert re.search(r"^\d\d:\d\d:\d\d INFO +StageCompleted run_id=r1 stage=research duration_ms=12.5$", err, re.M)
    assert "RunFailed" not in err and "{" not in err
    assert [line["msg"] for line in _lines(tmp_path)] == ["StageCompleted", "RunFailed"]  # the file keeps both


def test_the_log_file_rotates_at_its_size_and_keeps_five_backups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("llmtrade.observe.logs._MAX_BYTES", 1000)
    handlers = configure(lambda: tmp_path)
    try:
        for n in range(100):
            _log.info("line", extra={"fields": {"n": n}})
    finally:
        handlers.close()
    folder = tmp_path / "logs"
    assert sorted(p.name for p in folder.iterdir()) == ["llmtrade.jsonl", *(f"llmtrade.jsonl.{i}" for i in range(1, 6))]
    assert all(p.stat().st_size <= 1000 for p in folder.iterdir())
    assert json.loads((folder / "llmtrade.jsonl").read_text().splitlines()[-1])["n"] == 99


def _stored(n: int, run_id: str = "20260107T130000Z-3f9a1c") -> list[StoredEvent]:
    return [
        StoredEvent(
            type="StageCompleted",
            stream=f"s-{i}",
            payload={"stage": "research", "duration_ms": 1.5},
            week_id=date(2026, 1, 7),
            account_id="acct_1",
            run_id=run_id,
            schema_version=1,
            id=i + 1,
            version=1,
            occurred_at=datetime(2026, 1, 7, 13, tzinfo=UTC),
        )
        for i in range(n)
    ]


def test_an_appended_batch_is_on_disk_when_its_last_line_is_written_not_at_each_line(tmp_path: Path) -> None:
    handlers = configure(lambda: tmp_path)
    try:
        # Its first two lines wait in the buffer for the third: nothing on disk before the batch's end.
        logging.getLogger("llmtrade.events").info("first", extra={"more": True})
        assert (tmp_path / "logs" / "llmtrade.jsonl").read_text() == ""
        log_appended(_stored(3))
        lines = _lines(tmp_path)  # read before close: the batch's end flushed it
    finally:
        handlers.close()
    assert [line["msg"] for line in lines] == ["first", *["StageCompleted"] * 3]
    assert [line["event_id"] for line in lines[1:]] == [1, 2, 3]
    assert all(line["trace_id"] == trace_id_of("20260107T130000Z-3f9a1c") for line in lines[1:])
    assert all(line["account"] == "acct_1" and line["week"] == "2026-01-07" for line in lines[1:])


def test_a_warning_is_on_disk_at_once_even_inside_a_batch(tmp_path: Path) -> None:
    handlers = configure(lambda: tmp_path)
    try:
        _log.warning("trouble", extra={"more": True})
        on_disk = _lines(tmp_path)
    finally:
        handlers.close()
    assert [line["msg"] for line in on_disk] == ["trouble"]


@pytest.mark.parametrize("ending", ["raise RuntimeError('boom')", "import sys; sys.exit(3)"])
def test_buffered_lines_reach_the_file_when_the_process_dies_of_an_exception_or_exits(
    tmp_path: Path, ending: str
) -> None:
    # The handler is never closed: only interpreter exit (logging's atexit hook) can write the buffer.
    code = (
        "import logging\n"
        "from pathlib import Path\n"
        "from llmtrade.observe.logs import configure\n"
        f"configure(lambda: Path({str(tmp_path)!r}))\n"
        "for n in range(50):\n"
        "    logging.getLogger('llmtrade.events').info('line', extra={'more': True, 'fields': {'n': n}})\n"
        f"{ending}\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert [line["n"] for line in _lines(tmp_path)] == list(range(50))


def test_psycopg_s_warning_on_a_lost_connection_goes_to_the_log_file_not_the_terminal(
    tmp_path: Path, database_url: str
) -> None:
    # A backtest whose server went away printed psycopg's "error ignored terminating <psycopg.Pipeline [BAD] at
    # 0x...>: the connection is lost" (logging's last-resort handler) above llmtrade's one line. A process of its
    # own: pytest's log capture puts handlers on the root logger, which would hide the last-resort one.
    code = (
        "import time\n"
        "import psycopg\n"
        "from pathlib import Path\n"
        "from llmtrade.observe.logs import configure\n"
        f"configure(lambda: Path({str(tmp_path)!r}))\n"
        f"url = {database_url!r}\n"
        "with psycopg.connect(url, autocommit=True) as other, psycopg.connect(url, autocommit=True) as conn:\n"
        "    try:\n"
        "        with conn.pipeline():\n"
        "            conn.execute('SELECT 1')\n"  # queued in the pipeline, unanswered when the session ends
        "            other.execute('SELECT pg_terminate_backend(%s)', (conn.info.backend_pid,))\n"
        "            time.sleep(0.3)\n"
        "            conn.execute('SELECT 2')\n"
        "    except psycopg.OperationalError:\n"
        "        print('lost')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.stdout == "lost\n", done.stderr
    assert "error ignored" not in done.stderr
    kept = [line for line in _lines(tmp_path) if line["logger"].startswith("psycopg")]
    assert [line["msg"].startswith("error ignored terminating <psycopg.Pipeline") for line in kept] == [True]


@pytest.mark.parametrize("created", [0.0, 1767790800.0, 1767790800.0005, 1767790800.9999, 1767790801.123456])
def test_the_line_timestamp_is_iso_utc_to_the_millisecond_like_datetime(created: float) -> None:
    expected = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    assert _utc_stamp(created) == expected
