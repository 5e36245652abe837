"""Every event that records a failure, a refusal, an abandon or a miss is logged at warning or error, never info: a
cron trial found RunKilled, ConfigRejected, AlertFailed, WeekNotRun and CheckpointsMissed at info in the JSON log,
where a shipper's filter on level >= warning never saw them. Held for every event type named so, the new ones too."""

from __future__ import annotations

import importlib
import logging
import pkgutil
import re

import llmtrade.domain
from llmtrade.domain.events import EventPayload
from llmtrade.domain.tracing import _level

_FAILURE = re.compile(
    r"(Failed|Refused|Rejected|Missed|Skipped|Abandoned|Killed|NotRun|Missing|Blocked|PutOff|GivenUp)$"
)
_ERRORS = {"RunFailed", "RunKilled", "ConfigRejected"}


def _event_types() -> set[str]:
    for module in pkgutil.iter_modules(llmtrade.domain.__path__):
        importlib.import_module(f"llmtrade.domain.{module.name}")
    found: set[str] = set()
    kinds = list(EventPayload.__subclasses__())
    while kinds:
        kind = kinds.pop()
        found.add(kind.event_type())
        kinds += kind.__subclasses__()
    return found


def test_every_failure_refusal_or_miss_is_logged_at_warning_or_above() -> None:
    failures = {t for t in _event_types() if _FAILURE.search(t)}
    assert {"RunKilled", "ConfigRejected", "AlertFailed", "WeekNotRun", "CheckpointsMissed"} <= failures
    at_info = sorted(t for t in failures if _level(t) < logging.WARNING)
    assert at_info == []
    assert {t: _level(t) for t in _ERRORS} == dict.fromkeys(_ERRORS, logging.ERROR)


def test_an_ordinary_event_stays_at_info() -> None:
    assert _level("RunStarted") == _level("OrderFilled") == logging.INFO
