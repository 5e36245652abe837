"""The replay cache a backtest answers from: the live books' cache of earlier live calls, shared both ways.

A backtest writes a database of its own, and its gateway reads the replay cache of that database
(storage/llm_cache.py). So a `--replay` backtest first copies in the live cache's answers it does not hold
yet (an answer it already holds is kept: a resumed backtest replays what it used before); with
`--live-misses USD` the answers its misses fetched live are copied back to the live cache when it stops,
finished or not, so the next backtest or live `--replay` reuses them instead of paying again (a plain `--replay`
gives back those an earlier run bought and could not: killed outright).
Sweeps seed their runs' databases themselves (sweep/work.py) and skip the first copy.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from llmtrade.clock import SystemClock
from llmtrade.domain.wording import counted
from llmtrade.llm.repaired_failures import FAILED
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.llm_cache import AnswerCache


@contextmanager
def shared_answers(
    settings: Settings, storage: Storage, *, seed: bool, give_back: bool, say: Callable[[str], None]
) -> Iterator[None]:
    """Around a backtest on `storage` (its own database): the live cache copied in first when `seed`, the
    backtest's answers copied out to the live cache at the end when `give_back` (also after a failure)."""
    own = AnswerCache(storage.conn)
    if seed:
        with open_storage(settings, SystemClock()) as live:
            entries = AnswerCache(live.conn).entries()
            failed = _failed({key for key, _, _ in entries} - own.keys())
            added = own.add_missing(entries)
        if added:
            say(f"replay cache: {_stored(added, failed)} copied in from the live books' cache")
    try:
        yield
    finally:
        returned = renewed = failed = 0
        if give_back:
            stamped = own.stamped()
            with open_storage(settings, SystemClock()) as live:
                # Replies that failed for good are kept too, marked (llm/repaired_failures.py): said apart, not answers.
                failed = _failed({k for k, *_ in stamped} - AnswerCache(live.conn).keys())
                returned = AnswerCache(live.conn).add_missing([(k, m, a) for k, m, a, _ in stamped])
                # Answers asked anew in place of invalid ones the backtest replayed (llm/invalid_cached.py): the
                # newer answer wins, as a live call's does, or the next backtest of the week meets the invalid again.
                renewed = AnswerCache(live.conn).replace_older(stamped)
        elif seed:
            # A plain --replay buys nothing, but an earlier run of this backtest under --live-misses killed outright
            # (SIGKILL) gave back nothing of what it bought: those answers, in this database alone, go back now, or
            # another backtest of the weeks misses them (and under --live-misses pays for them again). Only the keys
            # are compared: the answers read and sent are the lacking ones, none most of the time.
            with open_storage(settings, SystemClock()) as live:
                cache = AnswerCache(live.conn)
                lacking = own.keys() - cache.keys()
                failed = _failed(lacking)
                returned = cache.add_missing(own.entries_of(lacking)) if lacking else 0
        if returned:
            said = _stored(returned, failed)
            say(f"replay cache: {said} fetched live by this backtest added to the live books' cache")
        if renewed:
            say(
                f"replay cache: {counted(renewed, 'answer')} asked anew by this backtest (the cached ones failed "
                "validation, or failed for good) replaced in the live books' cache"
            )


def _failed(keys: set[str]) -> int:
    """How many of `keys` hold replies that failed for good (llm/repaired_failures.py), not answers."""
    return sum(key.endswith(FAILED) for key in keys)


def _stored(entries: int, failed: int) -> str:
    """`entries` cache entries said as answers, and apart the `failed` of them that are failed replies."""
    replies = f" and {counted(failed, 'reply', 'replies')} that failed for good" if failed else ""
    return f"{counted(entries - failed, 'answer')}{replies}"
