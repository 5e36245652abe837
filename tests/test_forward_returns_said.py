"""run-due's daily discovery forward returns failing for good (the benchmark's prices gone from the provider, its CSV
file removed or unreadable; a judged candidate's alone is recorded as unmeasured: test_forward_returns_missing.py) are
said once, under -q, not at every wake-up: the line was mailed by cron every five minutes for good. Said again when the
failure changes, and its end (a later wake-up fills them) said once too."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from typer.testing import CliRunner

from llmtrade.app import due_run
from llmtrade.app.container import Container
from llmtrade.app.forward_returns_said import say_failed
from llmtrade.cli import app
from llmtrade.domain.discovery import ForwardReturnsFailureSaid
from llmtrade.domain.streams import FORWARD_RETURNS_FAILED
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.head_append import append_after
from tests.support import stored_events
from tests.test_forward_returns_deadline import DAYS, JUDGED, _judged

runner = CliRunner()


def _prices(folder: Path) -> dict[str, str]:
    """SPY's and TLT's closes for DAYS written in `folder`: each file's text, to write back after removing it."""
    folder.mkdir()
    texts = {}
    for n, symbol in enumerate(("SPY", "TLT")):
        rows = [f"{d},{c},{c + 1},{c - 1},{c},1000000" for d, c in ((d, 100.0 + n + i) for i, d in enumerate(DAYS))]
        texts[symbol] = "\n".join(["Date,Open,High,Low,Close,Volume", *rows]) + "\n"
        (folder / f"{symbol}.csv").write_text(texts[symbol])
    return texts


def _wake(monkeypatch: pytest.MonkeyPatch, at: str, *options: str) -> tuple[int, str]:
    monkeypatch.setenv("LLMTRADE_NOW", f"2026-01-08T{at}:00-05:00")
    woke = runner.invoke(app, [*options, "run-due"])
    return woke.exit_code, woke.stderr


def test_a_forward_returns_failure_for_good_is_said_once_again_when_it_changes_and_its_end_once(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url = cli_env["DATABASE_URL"]
    _judged(url, [JUDGED, DAYS[2]])  # the 6th's 1-session return matured with the 7th's close, the 7th's later
    folder = tmp_path / "prices"
    texts = _prices(folder)
    monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "csv")
    monkeypatch.setenv("LLMTRADE_MARKET_CSV_DIR", str(folder))
    monkeypatch.setattr(due_run, "due", lambda _app: [])  # nothing due but the forward returns
    monkeypatch.setattr(due_run, "run_event_checkpoints", lambda _app, _waits: [])
    (folder / "SPY.csv").unlink()
    code, said = _wake(monkeypatch, "12:00", "-q")
    assert code == 0, said
    [line] = said.splitlines()
    assert line.startswith("discovery forward returns not filled (") and "SPY.csv" in line, said
    # The next wake-ups meet the same failure: nothing under -q; without it, that it lasts.
    assert _wake(monkeypatch, "12:05", "-q") == (0, "")
    assert _wake(monkeypatch, "12:10", "-q") == (0, "")
    code, said = _wake(monkeypatch, "12:15")
    assert code == 0 and "discovery forward returns still not filled" in said, said
    # Another failure (SPY's file back, unreadable): said, once.
    (folder / "SPY.csv").write_text("not,a,price,file\n")
    code, said = _wake(monkeypatch, "12:20", "-q")
    assert code == 0 and said.startswith("discovery forward returns not filled (") and "SPY.csv" in said, said
    assert "does not exist" not in said, said
    assert _wake(monkeypatch, "12:25", "-q") == (0, "")
    # The files back: the returns are filled, and that is said once.
    for symbol, text in texts.items():
        (folder / f"{symbol}.csv").write_text(text)
    code, said = _wake(monkeypatch, "12:30", "-q")
    assert code == 0, said
    [line] = said.splitlines()
    assert line.startswith("discovery forward returns filled again"), said
    assert _wake(monkeypatch, "12:35", "-q") == (0, "")
    [filled] = stored_events(url, type="ForwardReturns")
    assert filled.payload["session"] == JUDGED.isoformat() and filled.payload["horizon"] == 1
    said_events = stored_events(url, stream="forward-returns-failed")
    assert [e.payload["error"] is None for e in said_events] == [False, False, True]
    # Failing again after that: said again.
    (folder / "SPY.csv").unlink()
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-09T17:00:00-05:00")  # the 8th's close: another return to fill
    woke = runner.invoke(app, ["-q", "run-due"])
    assert woke.exit_code == 0 and "discovery forward returns not filled (" in woke.stderr, woke.output


def test_two_wake_ups_meeting_the_same_failure_at_once_say_it_once(storage: Storage) -> None:
    """Each read the stream before the other recorded the failure: the one whose append comes second says nothing."""
    said: list[str] = []
    app = cast(Container, SimpleNamespace(say=said.append, warning=said.append))
    stale = storage.events.read_stream(FORWARD_RETURNS_FAILED)  # [] as both read it
    assert append_after(storage.events, FORWARD_RETURNS_FAILED, stale, ForwardReturnsFailureSaid(error="gone"))
    late = SimpleNamespace(read_stream=lambda _stream: stale, append=storage.events.append)
    say_failed(app, cast(EventStore, late), "gone")
    assert said == []
    assert len(storage.events.read_stream(FORWARD_RETURNS_FAILED)) == 1
