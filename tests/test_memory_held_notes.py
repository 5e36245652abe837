"""Symbol context answered in the process (memory/held_notes.py through memory/held_setups.py) against the statement's
answer (memory/recall.py `symbol_contexts`) over a real PostgreSQL: notes, setups with outcomes and their lessons,
lessons, with equal times at the cut and ids whose code-point order differs from a linguistic collation's."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from llmtrade.domain.memory import SymbolNote, SymbolNoteRemembered
from llmtrade.memory import recall
from llmtrade.memory.held_setups import HeldSetups
from llmtrade.storage.bootstrap import Storage
from tests.test_memory_held import INSTRUMENTS, TAGS, WEEKS, _held_memory, _monday, _weeks_items


def _with_notes(rng: random.Random) -> list[list[Any]]:
    batches = _weeks_items(rng)
    for week, batch in enumerate(batches):
        monday = _monday(week)
        for instrument in INSTRUMENTS:
            for tag in rng.sample(TAGS, 2):  # two packs' notes at one time: equal times at the cut
                note = SymbolNote(
                    memory_id=f"symbol:{monday.date()}:{instrument}:{tag}",
                    week_id=monday.date(),
                    known_at=monday + timedelta(hours=rng.choice((1, 1, 30))),
                    instrument=instrument,
                    text=f"{instrument} week {week} pack {tag}",
                )
                batch.append(SymbolNoteRemembered(note=note))
    return batches


def _reads(rng: random.Random, upto: int, count: int) -> list[tuple[Any, ...]]:
    out = []
    for _ in range(count):
        as_of = _monday(rng.randrange(0, upto + 3)) + timedelta(hours=rng.choice((0, 1, 2, 19, 31, 100, 130, 300)))
        instruments = rng.sample((*INSTRUMENTS, "QQQ"), rng.randrange(1, 5))
        out.append((instruments, as_of, rng.choice((1, 1, 2, 3, 6))))
    return out


def test_held_symbol_context_is_the_statements(storage: Storage) -> None:
    rng = random.Random(3)
    held = HeldSetups()
    memory = _held_memory(storage, held)
    kinds: set[str] = set()
    answered = 0
    for week, batch in enumerate(_with_notes(rng)):
        memory.remember(batch, week_id=_monday(week).date(), run_id=None)
        for instruments, as_of, limit in _reads(rng, week, 25):
            expected = recall.symbol_contexts(storage.conn, instruments, as_of=as_of, limit=limit)
            found = held.symbol_contexts(storage.conn, instruments, as_of=as_of, limit=limit)
            assert found == expected, (instruments, as_of, limit)
            assert memory.symbol_contexts(instruments, as_of=as_of, limit=limit) == expected
            # The same times, in the same zone (the events a recall writes hold them).
            assert [r.model_dump_json() for v in found.values() for r in v] == [
                r.model_dump_json() for v in expected.values() for r in v
            ]
            kinds |= {r.kind for v in found.values() for r in v}
            answered += 1
    assert kinds == {"symbol", "setup", "lesson"} and answered == WEEKS * 25
    # Read afresh from the tables: the same answers. Where the database's collation might not order ids by code
    # point, an answer the collation could change is left to the statement (None); any other is the statement's.
    fresh = HeldSetups()
    left = 0
    for instruments, as_of, limit in _reads(random.Random(8), WEEKS, 120):
        expected = recall.symbol_contexts(storage.conn, instruments, as_of=as_of, limit=limit)
        assert fresh.symbol_contexts(storage.conn, instruments, as_of=as_of, limit=limit) == expected
        fresh._codepoint = False
        found = fresh.symbol_contexts(storage.conn, instruments, as_of=as_of, limit=limit)
        fresh._codepoint = True
        assert found is None or found == expected
        left += found is None
    assert 0 < left < 120
