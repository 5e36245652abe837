"""The intraday paths a backtest's checkpoints will quote, planned ahead by a worker process (market/paths_ahead.py)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import date

from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.market.paths_ahead import paths_ahead
from llmtrade.market.providers import provider_names
from llmtrade.workflows.schedule import Job, JobKind


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
    if keys_of is None or not any(sessions):
        yield
        return
    symbols = list(assets.symbols)
    chunks = [[key for day_keys in keys_of(symbols, days) for key in day_keys] for days in sessions if days]
    with paths_ahead(chunks):
        yield
