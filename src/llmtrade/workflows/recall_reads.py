"""What recall reads for the PMs' "Similar past setups", pure reads over a `Memory` (the stages that run them:
workflows/memory_stages.py): the setups like the research candidates, the weeks like this one, the latest notes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from llmtrade.agents.memory_notes import interleave, within_budget
from llmtrade.config.sections import MemoryConfig
from llmtrade.domain.memory import MarketCondition, Recollection
from llmtrade.domain.research import ResearchPack
from llmtrade.memory.protocol import Memory, SetupQuery

# Past weeks whose market condition is shown beside the setups (one line each, after them).
SIMILAR_WEEKS = 2
# Notes per research candidate's instrument (the newest first), after the setups and the weeks.
NOTES_PER_INSTRUMENT = 1


def setups_like(memory: Memory, queries: Sequence[SetupQuery], *, as_of: datetime, limit: int) -> list[Recollection]:
    """The setups most like any of `queries`, interleaved by rank (each query's best first), `limit` at most."""
    if limit == 0:
        return []
    return interleave([memory.similar_setups(q, as_of=as_of, limit=limit) for q in queries])[:limit]


# id(answer) -> (the answer, (limit, budget), its lines and ids): see `setups_within_budget`.
_BUDGETED: dict[int, tuple[tuple[Recollection, ...], tuple[int, int], tuple[tuple[str, ...], tuple[str, ...]]]] = {}
_BUDGETED_KEPT = 1024


def setups_within_budget(
    memory: Memory, query: SetupQuery, *, as_of: datetime, limit: int, token_budget: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`within_budget(setups_like(memory, [query], ...), token_budget)`: (lines, memory ids shown). Made once per answer
    object: a backtest's memory answers a week's checkpoints about one position with the same frozen tuple
    (app/backtest_memory.py), held here so its id is not reused while kept."""
    if limit == 0:
        return within_budget((), token_budget)
    answer = memory.similar_setups(query, as_of=as_of, limit=limit)
    kept = _BUDGETED.get(id(answer))
    if kept is not None and kept[0] is answer and kept[1] == (limit, token_budget):
        return kept[2]
    result = within_budget(interleave([answer])[:limit], token_budget)
    if len(_BUDGETED) >= _BUDGETED_KEPT:
        _BUDGETED.clear()
    _BUDGETED[id(answer)] = (answer, (limit, token_budget), result)
    return result


def candidate_queries(packs: Sequence[ResearchPack], condition: MarketCondition | None) -> list[SetupQuery]:
    """One query per instrument the research packs put forward, in the packs' order (first pack's first)."""
    queries: dict[str, SetupQuery] = {}
    for pack in packs:
        for c in pack.tradable_candidates:
            sign = {"LONG": 1, "SHORT": -1}.get(c.directional_bias, 0)
            queries.setdefault(
                c.instrument,
                SetupQuery(
                    instrument=c.instrument,
                    direction=c.directional_bias,
                    conviction=sign,
                    thesis=c.one_week_thesis,
                    condition=condition,
                ),
            )
    return list(queries.values())


def read_ahead(
    memory: Memory, condition: MarketCondition, symbols: Sequence[str], *, as_of: datetime
) -> dict[str, tuple[Recollection, ...]]:
    """What recall shows that the research does not decide: the past weeks most like `condition` (key "") and
    the latest notes on each of `symbols` (key: the symbol), as of `as_of`."""
    ahead = memory.symbol_contexts(symbols, as_of=as_of, limit=NOTES_PER_INSTRUMENT)
    return {"": memory.similar_conditions(condition, as_of=as_of, limit=SIMILAR_WEEKS), **ahead}


def recall_lines(
    memory: Memory,
    queries: Sequence[SetupQuery],
    condition: MarketCondition,
    settings: MemoryConfig,
    *,
    as_of: datetime,
    ahead: Mapping[str, tuple[Recollection, ...]],
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A PM's "Similar past setups" (lines, memory ids shown): the setups like `queries`, the weeks like this
    one, the latest notes on the queries' instruments, cut to the token budget. Whatever `ahead` (read_ahead's
    answer, maybe partial or empty) holds is taken from it, the rest is read now: the lines are the same."""
    setups = setups_like(memory, queries, as_of=as_of, limit=settings.setups_per_role)
    weeks = ahead[""] if "" in ahead else memory.similar_conditions(condition, as_of=as_of, limit=SIMILAR_WEEKS)

    missing = [q.instrument for q in queries if q.instrument not in ahead]
    read = memory.symbol_contexts(missing, as_of=as_of, limit=NOTES_PER_INSTRUMENT) if missing else {}
    notes = interleave([ahead[q.instrument] if q.instrument in ahead else read[q.instrument] for q in queries])
    return within_budget([*setups, *weeks, *notes], settings.token_budget)
