"""A job command stopped by a configuration it cannot use, on record: a ConfigRejected event naming each file and what
is wrong in it. The books' database is located from the settings (the environment), not from the YAML files, so it is
reachable while they are broken; a cron running `llmtrade -q run-due` with its output in a log file otherwise left no
trace in the books of the days it did nothing.

Once while the same error of the same command lasts: cron's wake-ups every few minutes would add one each. Recorded
again when the error changes, or when a run has started or a job command was accepted since (the configuration was
mended in between: app/refusals_ended.py)."""

from __future__ import annotations

from llmtrade.app.refusals_ended import ENDS_REFUSALS
from llmtrade.config_errors import ConfigError
from llmtrade.domain.runs import ConfigRejected
from llmtrade.domain.streams import CONFIG_REJECTED
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.head_append import append_after


def rejected(command: str, error: ConfigError) -> ConfigRejected:
    return ConfigRejected(command=command, files=[e.file for e in error.each], error=str(error))


def record_rejected(events: EventStore, rejection: ConfigRejected) -> bool:
    """Record `rejection` unless it is on record already (see the module's docstring); whether it was recorded now."""
    before = events.read_stream(CONFIG_REJECTED)
    # The command's own last rejection: another command's in between (a manual `checkpoint` beside cron's run-due) is
    # no sign the configuration was mended, and compared with it each wake-up was recorded again.
    last = next((e for e in reversed(before) if e.payload.get("command") == rejection.command), None)
    if last is not None:
        same = ConfigRejected.from_event(last).error == rejection.error
        if same and not events.read(type=list(ENDS_REFUSALS), after_id=last.id, limit=1):
            return False
    return append_after(events, CONFIG_REJECTED, before, rejection)  # False: another process recorded it first
