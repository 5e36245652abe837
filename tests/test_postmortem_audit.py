"""The look-ahead audit of a week's postmortem (app/backtest_audit_postmortem.py): in an audited week, just before the
real postmortem, the postmortem runs as a dry run in a market cut at its own instant (the checkpoints' wall), writing
nothing (no event, no memory row, no week summary), and must ask the same prompts and write the same postmortems,
outcomes and lessons. It was not audited: the postmortem writes the lessons every later week recalls, so one that read a
bar after its instant leaked the future into every later week's prompts while every later audit passed (their reruns
recall the same lessons)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from llmtrade.app import backtest_steps
from llmtrade.app.backtest import BacktestSpec, backtest
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.evaluation_results import BacktestResult
from llmtrade.config.loader import load_config
from llmtrade.errors import OperationalError
from llmtrade.exits import classify
from llmtrade.memory.store import TABLES
from llmtrade.settings import Settings
from llmtrade.storage.database import backtest_database
from llmtrade.workflows import postmortem_stages
from tests.test_backtest import _unique, _url, without_audit
from tests.test_backtest_bad_start import WEEK, _write, history
from tests.test_checkpoint_audit import LAST_DAY, _audited, _backtest_stream

POSTMORTEM = f"postmortem {LAST_DAY} 16:30"  # the week's postmortem: its last session's, after the close


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Daily files of the universe and SPY through the week after WEEK's (the bars a leak reads are there)."""
    prices = tmp_path / "prices"
    _write(prices, history(WEEK + timedelta(days=14)))
    return prices


@dataclass(frozen=True)
class Audited:
    """A clean audited week's backtest, run once for the tests that only read its books (`audited`)."""

    live_url: str
    home: Path
    folder: Path
    name: str
    result: BacktestResult


@pytest.fixture(scope="module")
def audited(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    """WEEK backtested with --audit 1 (its postmortem audited) on the `folder` prices, in live books, a home and a
    folder of its own: two tests read its books and result, and neither writes to them (the other tests plant a leak
    or watch the run, and run their own)."""
    root = tmp_path_factory.mktemp("audited")
    prices = root / "prices"
    _write(prices, history(WEEK + timedelta(days=14)))
    live, name = _unique(), _unique()
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{live}"')
    live_url = _url(pg_admin_url, live)
    try:
        yield Audited(live_url, root, prices, name, _audited(live_url, root, prices, name))
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            for database in (live, backtest_database(name)):
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def postmortem_priced_a_day_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """A leak planted in the postmortem's price read (workflows/postmortem_stages.py `closes_with_held`): the week's end
    valued at the closes of the day after its instant (the next session's), read through the market as the postmortem
    reads it, so the audit's cut market holds that day back."""
    honest = postmortem_stages.closes_with_held

    def a_day_ahead(market: Any, universe: Any, held: Any, asof: datetime, **kw: Any) -> Any:
        return honest(market, universe, held, asof + timedelta(days=1), **kw)

    monkeypatch.setattr(postmortem_stages, "closes_with_held", a_day_ahead)


def memory_rows(url: str) -> list[str]:
    """Every memory table's rows (their event ids aside: the audit's verdicts shift them), in order."""
    rows: list[str] = []
    with psycopg.connect(url) as conn:
        for table in (*TABLES, "memory_setup_vectors", "week_summaries"):
            found = conn.execute(
                f"SELECT (to_jsonb(t) - 'event_id' - 'outcome_event_id')::text FROM {table} t ORDER BY 1"
            )
            rows += [f"{table} {row[0]}" for row in found]
    return rows


def test_a_postmortem_that_read_a_bar_after_its_instant_is_caught(
    folder: Path, database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtrade.app.container import Container
    from llmtrade.app.leaderboard import leaderboard
    from llmtrade.clock import FixedClock

    postmortem_priced_a_day_ahead(monkeypatch)
    name = _unique()
    with pytest.raises(OperationalError) as caught:
        _audited(database_url, tmp_path, folder, name)
    failure = classify(caught.value)
    assert failure is not None and failure.code == 1
    message = str(caught.value)
    assert message.startswith(f"look-ahead audit failed for week {WEEK}: {POSTMORTEM}: "), message
    assert "read data after the postmortem's instant" in message, message
    stream = _backtest_stream(pg_admin_url, name)
    [leak] = [p for kind, p in stream if kind == "LookaheadAuditFailed"]
    assert leak["role"].startswith(f"{POSTMORTEM}: ") and leak["real"] != leak["audited"], leak
    # The weekly run passed its audit, the checkpoints ran: the postmortem is what read the next session's close.
    assert [kind for kind, _ in stream].count("LookaheadAuditPassed") == 1
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path))
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 2, 20, tzinfo=UTC)), None, print)
    [note] = [n for n in leaderboard(live, backtest=name).notes if "look-ahead audit" in n]
    assert f"it failed its look-ahead audit at week {WEEK}, at its {POSTMORTEM} (" in note, note


def test_an_audited_postmortem_passes_and_its_books_are_the_unaudited_runs(audited: Audited, pg_admin_url: str) -> None:
    name, result = audited.name, audited.result
    [week] = result.audit
    assert (week.week_id, week.passed, week.postmortem) == (WEEK, True, True)
    stream = _backtest_stream(pg_admin_url, name)
    kinds = [kind for kind, _ in stream]
    assert kinds.index("LookaheadAuditPassed") < kinds.index("PostmortemAuditPassed") < kinds.index("BacktestWeekDone")
    [passed] = [p for kind, p in stream if kind == "PostmortemAuditPassed"]
    assert passed["week_id"] == str(WEEK) and passed["calls"] > 0, passed  # the owners were asked to reflect
    # What it would have remembered was compared: the week's outcomes and lessons.
    assert {f"stream:week:{WEEK}:memory:outcomes", f"stream:week:{WEEK}:memory:lessons", "result"} <= set(
        passed["compared"]
    ), passed["compared"]
    plain = _unique()  # beside it, in the same live books, home and prices
    settings = Settings(DATABASE_URL=audited.live_url, LLMTRADE_HOME=str(audited.home))
    spec = BacktestSpec(name=plain, first=WEEK, last=WEEK, offline=True, replay=False, csv=audited.folder)
    backtest(settings, load_config(None), None, spec, say=lambda _t: None)
    urls = [_url(pg_admin_url, backtest_database(n)) for n in (name, plain)]
    assert without_audit(urls[0]) == without_audit(urls[1])
    audited, unaudited = memory_rows(urls[0]), memory_rows(urls[1])
    assert any(row.startswith("memory_lessons ") for row in audited)  # there were lessons to write
    assert audited == unaudited


def test_the_postmortems_dry_run_leaves_no_memory_row_behind(
    folder: Path, database_url: str, pg_admin_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Looked at between the dry run and the real postmortem: what the dry run would have remembered is in its draft
    alone; the memory tables (and the week's summaries) hold nothing of the week's close yet."""
    seen: list[tuple[list[str], int]] = []
    real = backtest_steps.postmortem

    def looked_at(app: BacktestContainer, *, week: date | None) -> Any:
        draft = app.last_draft
        remembered = [] if draft is None else [e.type for e in draft.appended() if e.type.endswith("Remembered")]
        with app.storage() as storage:
            [(rows,)] = storage.conn.execute(
                "SELECT (SELECT count(*) FROM memory_outcomes) + (SELECT count(*) FROM memory_lessons)"
                " + (SELECT count(*) FROM memory_setups WHERE outcome_known_at IS NOT NULL)"
                " + (SELECT count(*) FROM week_summaries)"
            ).fetchall()
        seen.append((remembered, rows))
        return real(app, week=week)

    monkeypatch.setattr(backtest_steps, "postmortem", looked_at)
    name = _unique()
    _audited(database_url, tmp_path, folder, name)
    [(remembered, rows)] = seen
    assert "OutcomeRemembered" in remembered and "LessonRemembered" in remembered, remembered
    assert rows == 0
    with psycopg.connect(_url(pg_admin_url, backtest_database(name))) as conn:
        [(after,)] = conn.execute("SELECT count(*) FROM memory_lessons").fetchall()
    assert after > 0  # the real postmortem wrote them


def test_books_audited_before_postmortems_were_say_their_postmortems_were_not_audited(audited: Audited) -> None:
    """The same week's verdicts with and without its postmortem's (books an earlier version audited): the leaderboard's
    note and a resumed start's line say the postmortem was audited, or that it was not (not "passed")."""
    from llmtrade.app.backtest_audit import not_audited_now
    from llmtrade.app.container import Container
    from llmtrade.app.leaderboard import books
    from llmtrade.clock import FixedClock
    from llmtrade.domain import streams
    from llmtrade.domain.audit_notes import audit_note

    name = audited.name
    settings = Settings(DATABASE_URL=audited.live_url, LLMTRADE_HOME=str(audited.home))
    live = Container(settings, load_config(None), FixedClock(datetime(2026, 2, 20, tzinfo=UTC)), None, print)
    reader, _ = books(live, name)
    with reader.storage(persist=False) as storage:
        stream = storage.events.read_stream(streams.BACKTEST)
    older = [e for e in stream if e.type != "PostmortemAuditPassed"]
    assert f"{WEEK} audited then (passed)" in (not_audited_now(1, {WEEK}, stream, cut_checkpoints=True) or "")
    said = not_audited_now(1, {WEEK}, older, cut_checkpoints=True) or ""
    assert f"{WEEK} audited then (its weekly run passed; its postmortem was not audited)" in said, said
    assert said.endswith("; to audit it, run the range under a new --name with --audit"), said
    note = audit_note(stream) or ""
    assert "; its postmortem, rerun in a market holding nothing after its instant, passed too" in note, note
    assert "; the postmortems are not audited" in (audit_note(older) or "")
