"""The current watchlist, folded from the events: the last run's list and the manual edits since."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmtrade.domain.discovery import WatchlistEdited, WatchlistEntry, WatchlistSet
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.streams import DISCOVERY, WATCHLIST_EDITS
from llmtrade.storage.event_store import EventStore


@dataclass(frozen=True)
class Watchlist:
    """The last discovery run's watchlist (None before the first), and the manual includes and excludes
    in force (symbol -> asset class for includes)."""

    latest: WatchlistSet | None
    latest_id: int | None
    include: dict[str, str] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)

    def effective(self, size: int) -> list[WatchlistEntry]:
        """What the committee sees: the includes first, then the last run's entries not excluded, at most `size`."""
        chosen = [
            WatchlistEntry(symbol=s, asset_class=c, rank=1, score=0.0, manual=True) for s, c in self.include.items()
        ]
        taken = set(self.include)
        for entry in self.latest.entries if self.latest else []:
            if entry.symbol not in taken and entry.symbol not in self.exclude:
                chosen.append(entry)
                taken.add(entry.symbol)
        return [e.model_copy(update={"rank": i}) for i, e in enumerate(chosen[:size], start=1)]


def fold(discovery: list[StoredEvent], edits: list[StoredEvent]) -> Watchlist:
    """`discovery`: the discovery stream's events; `edits`: the watchlist-edits stream's, oldest first."""
    # Only the last run's list counts: found from the end and parsed alone, not every run's since the first.
    last = next((e for e in reversed(discovery) if e.type == WatchlistSet.event_type()), None)
    latest = WatchlistSet.from_event(last) if last is not None else None
    latest_id = last.id if last is not None else None
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


def current(events: EventStore) -> Watchlist:
    """The watchlist in force: `fold` of the two streams' lists and edits, read by type, not the streams whole.
    The discovery stream is mostly the pickers' suggestions (~11 KB a run): a read of it whole kept a backtest's
    copy of every run's in memory (storage/event_copies.py) for a fold that takes the last list alone."""
    found = events.read(type=[WatchlistSet.event_type(), WatchlistEdited.event_type()])
    return fold([e for e in found if e.stream == DISCOVERY], [e for e in found if e.stream == WATCHLIST_EDITS])


STREAMS = (DISCOVERY, WATCHLIST_EDITS)
