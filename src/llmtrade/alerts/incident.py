"""One alert-worthy incident: the record the incident builders (incidents.py, account_incidents.py) make and
dispatch.py and owed.py send. Its own module so the builders can share it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Incident:
    """One thing to tell a person: `key` names it for "once per incident per day"; text before any cut."""

    key: str
    kind: str
    title: str
    body: str
    event_ids: list[int] = field(default_factory=list)
