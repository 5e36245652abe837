"""The `memory` commands: search, show, stats (read-only) and rebuild (replays the events into the tables).

They work whether or not models.yaml switches the memory on for the committee (inspecting and rebuilding
it is how one decides), and embed with what this invocation would: the packaged model offline or when none
is configured, else the configured one (app/memory_build.py).
"""

from __future__ import annotations

import time
from datetime import date, datetime

from llmtrade.app.container import Container
from llmtrade.app.memory_build import embedder_for
from llmtrade.app.memory_results import EmbeddingUse, MemoryRebuilt, MemorySearch, MemoryShown, MemoryStats
from llmtrade.config.candidates import packaged_candidates
from llmtrade.domain.memory import Lesson, MarketCondition, Outcome, Setup, SymbolNote
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import UsageError
from llmtrade.memory.conditions import condition_id
from llmtrade.memory.protocol import SetupQuery
from llmtrade.memory.store import EVENT_TYPES, PgMemory
from llmtrade.storage.bootstrap import Storage


def _memory(container: Container, storage: Storage) -> PgMemory:
    # No warm-up thread: search by week and stats never embed, search by text and rebuild embed at once.
    models = container.loaded.config.models
    embedder = embedder_for(models, storage, container.settings, container.mode, warm=False)
    return PgMemory(storage.conn, storage.events, embedder)


def search_text(
    container: Container, text: str, *, instrument: str | None, limit: int, as_of: datetime | None
) -> MemorySearch:
    """Past setups like `text` (a thesis, indicators), known with their outcome before `as_of` (default now).
    With `instrument`, the numeric ranking (same instrument, LONG, conviction 1) is fused in."""
    if not text.strip():
        raise UsageError("memory search: give a TEXT to search for, or --week DATE")
    when = as_of or container.clock.now()
    with container.storage(persist=False) as storage:
        if instrument:
            _known_instrument(container, storage, instrument)
        memory = _memory(container, storage)
        query = SetupQuery(instrument=instrument or "", direction="LONG", conviction=1, thesis=text)
        hits = memory.similar_setups(query, as_of=when, limit=limit)
        embedder = memory.embedder
        # After the search: a configured model knows its size once it has embedded the query.
        other = [
            (model, rows)
            for model, dims, rows in storage.conn.execute(
                "SELECT embedding_model, embedding_dims, count(*) FROM memory_setups GROUP BY 1, 2 ORDER BY 1, 2"
            ).fetchall()
            if model != embedder.model or dims != embedder.dims
        ]
        return MemorySearch(
            by="text",
            query=text,
            as_of=when,
            embedding_model=embedder.model,
            hits=list(hits),
            enabled=container.loaded.config.models.memory.enabled,
            unsearched=sum(rows for _, rows in other),
            unsearched_models=tuple(sorted({model for model, _ in other})),
        )


def _known_instrument(container: Container, storage: Storage, instrument: str) -> None:
    """Raise UsageError for an --instrument that no setup could be of (not in the universe, not a discovery candidate,
    in no stored setup): `--instrument ZZZ` ranked nothing first and said only that nothing matched."""
    universe = container.loaded.config.assets.symbols
    if instrument in universe or instrument in {c.symbol for c in packaged_candidates()}:
        return
    held = [row[0] for row in storage.conn.execute("SELECT DISTINCT instrument FROM memory_setups").fetchall()]
    if instrument not in held:
        raise UsageError.unknown(
            f"memory search --instrument {instrument}: no such instrument in the universe, the discovery candidates "
            "or any remembered setup",
            instrument,
            [*universe, *held],
            otherwise="",
        )


def search_week(container: Container, day: date, *, limit: int, as_of: datetime | None = None) -> MemorySearch:
    """Past weeks whose market condition was most like the week of `day`'s, as known when that week's was, or at
    `as_of` when that is earlier (a trial's --as-of was ignored: it listed a week not known at the time asked).
    Raises UsageError when no condition of that week is stored."""
    week_id = week_id_for(day)
    with container.storage(persist=False) as storage:
        row = storage.conn.execute(
            "SELECT memory_id, week_id, known_at, session, names, vals FROM memory_conditions WHERE memory_id = %s",
            (condition_id(week_id),),
        ).fetchone()
        if row is None:
            raise UsageError(f"memory search --week {day}: no market condition is remembered for the week {week_id}")
        condition = MarketCondition(
            memory_id=row[0], week_id=row[1], known_at=row[2], session=row[3], names=row[4], values=row[5]
        )
        memory = _memory(container, storage)
        when = condition.known_at if as_of is None else min(as_of, condition.known_at)
        hits = memory.similar_conditions(condition, as_of=when, limit=limit)
        known = storage.conn.execute("SELECT count(*) FROM memory_conditions WHERE known_at < %s", (when,)).fetchone()
        return MemorySearch(
            by="week",
            query=str(week_id),
            as_of=when,
            embedding_model="",
            hits=list(hits),
            enabled=container.loaded.config.models.memory.enabled,
            weeks_known=int(known[0]) if known else 0,
        )


def show(container: Container, memory_id: str) -> MemoryShown:
    """One memory by id. Raises UsageError for an id that is not stored."""
    with container.storage(persist=False) as storage:
        conn = storage.conn
        item = conn.execute("SELECT kind, event_id FROM memory_items WHERE memory_id = %s", (memory_id,)).fetchone()
        if item is None:
            raise UsageError(f"memory show: no memory {memory_id!r} (`llmtrade memory search` lists ids)")
        kind, event_id = item
        shown = MemoryShown(memory_id=memory_id, kind=kind, event_id=event_id)
        if kind == "setup":
            record, outcome, lessons = conn.execute(
                """SELECT s.record, s.outcome, ARRAY(SELECT l.text FROM memory_lessons l WHERE l.week_id = s.week_id
                          AND l.account_id = s.account_id ORDER BY l.memory_id)
                   FROM memory_setups s WHERE s.memory_id = %s""",
                (memory_id,),
            ).fetchone()
            return shown.model_copy(
                update={
                    "setup": Setup.model_validate(record),
                    "outcome": Outcome.model_validate(outcome) if outcome else None,
                    "lessons": tuple(lessons),
                }
            )
        if kind == "outcome":
            (record,) = conn.execute(
                "SELECT record FROM memory_outcomes WHERE setup_id = %s", (memory_id.removeprefix("outcome:"),)
            ).fetchone()
            return shown.model_copy(update={"outcome": Outcome.model_validate(record)})
        if kind == "condition":
            row = conn.execute(
                "SELECT week_id, known_at, session, names, vals FROM memory_conditions WHERE memory_id = %s",
                (memory_id,),
            ).fetchone()
            condition = MarketCondition(
                memory_id=memory_id, week_id=row[0], known_at=row[1], session=row[2], names=row[3], values=row[4]
            )
            return shown.model_copy(update={"condition": condition})
        if kind == "lesson":
            row = conn.execute(
                "SELECT week_id, known_at, account_id, instrument, text FROM memory_lessons WHERE memory_id = %s",
                (memory_id,),
            ).fetchone()
            lesson = Lesson(
                memory_id=memory_id, week_id=row[0], known_at=row[1], account_id=row[2], instrument=row[3], text=row[4]
            )
            return shown.model_copy(update={"lesson": lesson})
        row = conn.execute(
            "SELECT week_id, known_at, instrument, text FROM memory_symbols WHERE memory_id = %s", (memory_id,)
        ).fetchone()
        note = SymbolNote(memory_id=memory_id, week_id=row[0], known_at=row[1], instrument=row[2], text=row[3])
        return shown.model_copy(update={"note": note})


def stats(container: Container) -> MemoryStats:
    with container.storage(persist=False) as storage:
        conn = storage.conn
        embedder = _memory(container, storage).embedder
        counts = conn.execute(
            """SELECT (SELECT count(*) FROM memory_conditions), (SELECT count(*) FROM memory_setups),
                      (SELECT count(*) FROM memory_setups WHERE outcome IS NOT NULL),
                      (SELECT count(*) FROM memory_outcomes), (SELECT count(*) FROM memory_lessons),
                      (SELECT count(*) FROM memory_symbols),
                      (SELECT count(*) FROM events WHERE type = ANY(%s)),
                      (SELECT min(week_id) FROM memory_conditions), (SELECT max(week_id) FROM memory_conditions)""",
            (list(EVENT_TYPES),),
        ).fetchone()
        uses = conn.execute(
            """SELECT t, embedding_model, embedding_dims, count(*) FROM (
                   SELECT 'setups' AS t, embedding_model, embedding_dims FROM memory_setups
                   UNION ALL SELECT 'lessons', embedding_model, embedding_dims FROM memory_lessons
                   UNION ALL SELECT 'symbol_notes', embedding_model, embedding_dims FROM memory_symbols) AS v
               GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
        ).fetchall()
        # A configured model learns its size from its first answer: ask only when a row could be current.
        current = [(t, m, d, n, m == embedder.model) for t, m, d, n in uses]
        return MemoryStats(
            conditions=counts[0],
            setups=counts[1],
            setups_with_outcome=counts[2],
            outcomes=counts[3],
            lessons=counts[4],
            symbol_notes=counts[5],
            events=counts[6],
            first_week=counts[7],
            last_week=counts[8],
            embedder=embedder.model,
            embeddings=[
                EmbeddingUse(table=t, model=m, dimensions=d, rows=n, current=ok and d == embedder.dims)
                for t, m, d, n, ok in current
            ],
            enabled=container.loaded.config.models.memory.enabled,
        )


def rebuild_if_ahead(container: Container, storage: Storage) -> bool:
    """Rebuild the memory from the events when it holds rows of events that were never written (True then).

    A backtest commits memory rows as a job remembers and its events at the week's end (storage/sole_writer.py):
    a process killed in between leaves rows whose events are gone, which the redone week would take as
    remembered already, and whose event ids later events reuse."""
    row = storage.conn.execute(
        "SELECT EXISTS (SELECT 1 FROM memory_items WHERE event_id > (SELECT coalesce(max(id), 0) FROM events))"
    ).fetchone()
    if not (row and row[0]):
        return False
    _memory(container, storage).rebuild()
    return True


def rebuild(container: Container) -> MemoryRebuilt:
    """Empty the memory tables and replay every *Remembered event into them, re-embedding with this
    invocation's embedder (a model change is applied this way)."""
    started = time.perf_counter()
    with container.storage() as storage:
        memory = _memory(container, storage)
        counts = memory.rebuild()
        return MemoryRebuilt(
            conditions=counts.conditions,
            setups=counts.setups,
            outcomes=counts.outcomes,
            lessons=counts.lessons,
            symbol_notes=counts.symbols,
            embedding_model=memory.embedder.model,
            dimensions=memory.embedder.dims,
            seconds=round(time.perf_counter() - started, 3),
        )
