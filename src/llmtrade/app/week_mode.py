"""An offline week stays offline to its end, whatever mode the invocation now has.

The README's first command trades a week offline (no keys: the rules provider, synthetic prices, paper brokers).
Once keys are set, every later invocation is live, and a live run cannot continue an offline week (its research,
decisions and orders would mix synthetic and real: workflows/weekly.py `require_same_mode`). So `run-due` refused
the offline week's remaining checkpoints, its event checkpoints and its postmortem at every wake-up (exit 1 every
five minutes from cron), and never reached the first live week's weekly run. Now the week's jobs run offline, as
the week began, on the paper brokers (never an Alpaca account, keys or not), with a warning; the next week is the
first live one. A live week is never continued offline: that is still refused (`require_same_mode`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from llmtrade.app.container import Container
from llmtrade.llm.gateway import LLMMode
from llmtrade.workflows.weekly import week_mode


def in_week_mode(app: Container, week_id: date, *, warn: bool = True) -> Container:
    """`app`, or, when `week_id` was begun offline and `app` is not offline, an offline copy of it (a warning says so
    unless `warn` is False: the caller says it if it runs anything). One read of the week's first RunStarted; none
    when `app` is offline already (a backtest's jobs)."""
    if app.mode is LLMMode.OFFLINE:
        return app
    with app.storage() as storage:
        started = week_mode(storage.events, week_id)
    if started != LLMMode.OFFLINE.value:
        return app
    if warn:
        app.warning(offline_note(week_id))
    return replace(app, offline=True, replay=False, live_misses_usd=None)


def offline_note(week_id: date) -> str:
    """What `in_week_mode` says of a week it runs offline."""
    return (
        f"week {week_id} began offline: its jobs run offline to its end (the rules provider, synthetic prices, paper "
        "brokers), as it began; the next week is the first in the mode set now"
    )
