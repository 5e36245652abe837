"""The current watchlist, folded from the events: the last run's list and the manual edits since."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmtrade.domain.discovery import WatchlistEdited, WatchlistEntry, WatchlistSet
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.streams import DISCOVERY, WATCHLIST_EDITS


@dataclass(frozen=True)
class Watchlist:
    """The last discovery run's watchlist (None before the first), and the manual includes and excludes
    in force (symbol -> asset class for includes)."""

    latest: WatchlistSet | None
    latest_id: int | None
    include: dict[str, str] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)

    @property
    def symbols(self) -> list[str]:
        return [e.symbol for e in self.latest.entries] if self.latest else []

    def entries(self) -> list[WatchlistEntry]:
        return list(self.latest.entries) if self.latest else []


def fold(discovery: list[StoredEvent], edits: list[StoredEvent]) -> Watchlist:
    """`discovery`: the discovery stream's events; `edits`: the watchlist-edits stream's, oldest first."""
    latest: WatchlistSet | None = None
    latest_id: int | None = None
    for event in discovery:
        if event.type == WatchlistSet.event_type():
            latest, latest_id = WatchlistSet.from_event(event), event.id
    include: dict[str, str] = {}
    exclude: list[str] = []
    for event in edits:
        if event.type != WatchlistEdited.event_type():
            continue
        edit = WatchlistEdited.from_event(event)
        include.pop(edit.symbol, None)
        if edit.symbol in exclude:
            exclude.remove(edit.symbol)
        if edit.action == "include":
            include[edit.symbol] = edit.asset_class
        elif edit.action == "exclude":
            exclude.append(edit.symbol)
    return Watchlist(latest, latest_id, include, exclude)


STREAMS = (DISCOVERY, WATCHLIST_EDITS)
