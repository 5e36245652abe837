"""Recall read partly ahead (recall_ahead, alongside the research): the PMs are shown exactly the lines recall
would have read in turn, and what was read ahead is not read again. Real PostgreSQL, PgMemory and the packaged
embedder."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.domain.memory import (
    ConditionRemembered,
    MarketCondition,
    OutcomeRemembered,
    SetupRemembered,
    SymbolNote,
    SymbolNoteRemembered,
)
from llmtrade.memory.embedder import PackagedEmbedder
from llmtrade.memory.protocol import SetupQuery
from llmtrade.memory.store import PgMemory
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.workflows.recall_reads import read_ahead, recall_lines
from tests.test_memory_use import PAST_WEEKS, _outcome, _setup

NY = ZoneInfo("America/New_York")
AS_OF = datetime(2026, 1, 7, 8, tzinfo=NY)
NAMES = ("return_4w", "realized_vol_20")


def _condition(week: date, values: tuple[float, float]) -> MarketCondition:
    known = datetime.combine(week + timedelta(days=2), datetime.min.time(), NY).replace(hour=8)
    return MarketCondition(
        memory_id=f"condition:{week}", week_id=week, known_at=known, session=week, names=NAMES, values=values
    )


@pytest.fixture
def memory(storage: Storage) -> PgMemory:
    items: list[Any] = []
    for n, week in enumerate(PAST_WEEKS):
        items.append(ConditionRemembered(condition=_condition(week, (0.01 * n, 0.1 + 0.02 * n))))
        for symbol, direction in (("SPY", "LONG"), ("GLD", "SHORT")):
            setup = _setup(week, symbol, direction)
            known = datetime.combine(week + timedelta(days=4), datetime.min.time(), NY)
            items += [SetupRemembered(setup=setup), OutcomeRemembered(outcome=_outcome(setup, known))]
            note = SymbolNote(
                memory_id=f"symbol:{week}:{symbol}:r1",
                week_id=week,
                known_at=setup.known_at,
                instrument=symbol,
                text=f"{symbol} note of {week}",
            )
            items.append(SymbolNoteRemembered(note=note))
    found = PgMemory(storage.conn, storage.events, PackagedEmbedder())
    found.remember(items, week_id=PAST_WEEKS[0], run_id=None)
    return found


def test_lines_read_partly_ahead_are_the_lines_read_in_turn_and_nothing_read_ahead_is_read_again(
    memory: PgMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_config(None).config.models.memory
    condition = _condition(date(2026, 1, 5), (0.015, 0.12))
    queries = [
        SetupQuery(instrument=s, direction=d, conviction=1, thesis=f"{s} trend follows through", condition=condition)
        for s, d in (("SPY", "LONG"), ("GLD", "LONG"))
    ]
    in_turn = recall_lines(memory, queries, condition, settings, as_of=AS_OF, ahead={})
    ahead = read_ahead(memory, condition, ["SPY", "GLD", "TLT"], as_of=AS_OF)
    assert ahead[""] and ahead["SPY"] and ahead["TLT"] == ()  # weeks like this one; notes per symbol, if any

    again: list[str] = []
    for name in ("similar_conditions", "symbol_contexts"):
        real = getattr(memory, name)
        monkeypatch.setattr(memory, name, lambda *a, _real=real, _name=name, **k: again.append(_name) or _real(*a, **k))
    lines, shown = recall_lines(memory, queries, condition, settings, as_of=AS_OF, ahead=ahead)
    assert (lines, shown) == in_turn
    assert any(i.startswith("condition:") for i in shown) and any(i.startswith("setup:") for i in shown)
    assert again == []  # the weeks and the notes came from what was read ahead
    # What was not read ahead (a symbol outside it) is read in turn, with the same answer.
    partial = {k: v for k, v in ahead.items() if k != "GLD"}
    assert recall_lines(memory, queries, condition, settings, as_of=AS_OF, ahead=partial) == in_turn
    assert again == ["symbol_contexts"]


def test_the_notes_on_many_instruments_read_together_are_each_instruments_own(memory: PgMemory) -> None:
    alone = {s: memory.symbol_contexts([s], as_of=AS_OF, limit=3)[s] for s in ("SPY", "GLD", "TLT")}
    together = memory.symbol_contexts(["SPY", "GLD", "TLT", "SPY"], as_of=AS_OF, limit=3)
    assert together == alone
    held = [h.note.instrument if h.note else h.setup.instrument if h.setup else "?" for h in alone["SPY"]]
    assert held and set(held) == {"SPY"} and {h.kind for h in alone["GLD"]} == {"symbol", "setup"}
    assert alone["TLT"] == () and memory.symbol_contexts([], as_of=AS_OF, limit=3) == {}


def test_a_connection_readied_for_similar_setups_holds_their_statement_planned_and_answers_the_same(
    memory: PgMemory, database_url: str, clock: FixedClock
) -> None:
    """recall_ahead readies the side connection recall then reads the setups on: the statement is prepared there
    (its planning off the path), nothing is written, and the reads after it are the reads a fresh connection makes."""
    limit = load_config(None).config.models.memory.setups_per_role
    query = SetupQuery(instrument="SPY", direction="LONG", conviction=1, thesis="SPY trend follows through")
    with open_storage(Settings(DATABASE_URL=database_url), clock) as fresh:
        plain = PgMemory(fresh.conn, fresh.events, PackagedEmbedder())
        expected = plain.similar_setups(query, as_of=AS_OF, limit=limit)
    with open_storage(Settings(DATABASE_URL=database_url), clock) as side:
        readied = PgMemory(side.conn, side.events, PackagedEmbedder())
        events_before = side.events.count()
        readied.prepare_similar_setups(as_of=AS_OF, limit=limit)
        prepared = side.conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%fused%'")
        assert prepared.fetchone() == (1,)
        assert side.events.count() == events_before
        assert readied.similar_setups(query, as_of=AS_OF, limit=limit) == expected
        # The read used the statement readied for it: none other was prepared.
        again = side.conn.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%fused%'")
        assert again.fetchone() == (1,)
