"""A backtest's helper processes: the intraday paths its checkpoints will quote, planned ahead by a worker process
(market/paths_ahead.py), and the week at which the leaderboard's draws worker (analytics/draws.py) is started."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date

from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.market.paths_ahead import paths_ahead
from llmtrade.market.providers import provider_names
from llmtrade.workflows.schedule import Job, JobKind

# The fewest weeks (with checkpoints) to run for which a worker is started: under them the sessions are planned in this
# process, as without one. A worker's start (a spawn and numpy's import: some 0.25 s of CPU, on the other core, which
# the database's writes share) costs more than planning a week's sessions (~5 ms), and most backtests a test suite runs
# are a week or two.
AHEAD_FROM = 13


@contextlib.contextmanager
def paths_planned(app: BacktestContainer, plan: dict[date, list[Job]], todo: list[date]) -> Iterator[None]:
    """Inside the block, the paths of the universe's sessions that `todo`'s checkpoints quote come from a worker, one
    week's at a time, as far as it has made them (anything else is planned in this process, as without it).

    Only a first quote provider that plans paths (one that says which: `path_keys(symbols, days)`, the synthetic
    market and a CSV folder's daily bridge) has any: real prices (intraday files, a live feed) have no path to plan."""
    assets = app.loaded.config.assets
    first = app.quote_providers(provider_names(assets, app.settings, live=app.live))[:1]
    keys_of = getattr(first[0], "path_keys", None) if first else None
    sessions = [sorted({job.day for job in plan[w] if job.kind is JobKind.CHECKPOINT}) for w in todo]
    if keys_of is None or sum(1 for days in sessions if days) < AHEAD_FROM:
        yield
        return
    # Asked once for every session: a provider reads its bars for the whole span at once (a call a week cost as
    # much as the planning it saved).
    every = sorted({day for days in sessions for day in days})
    of_day = dict(zip(every, keys_of(list(assets.symbols), every), strict=True))
    chunks = [[key for day in days for key in of_day[day]] for days in sessions if days]
    with paths_ahead(chunks):
        yield


# The week after which a backtest starts its draws worker (its spawn and arch's import: some 1.2 s of CPU). Started with
# the backtest, it competed for the two cores with the database's creation, the paths worker's start and the first
# weeks (their wall time 0.06-0.1 s a week above their CPU time: 0.4 s of a 52-week run's 6.6); a few weeks on, the
# other core is mostly idle (PostgreSQL's writes and the paths worker take a fifth of it) and the import is done long
# before the leaderboard.
DRAWS_AFTER = 6


def draws_worker_from(weeks: int) -> int:
    """After how many of the `weeks` to run the draws worker is started: DRAWS_AFTER, or 0 (at once) for a run too
    short (under three times as many weeks) to finish the import behind its weeks if started late."""
    return DRAWS_AFTER if weeks >= 3 * DRAWS_AFTER else 0
