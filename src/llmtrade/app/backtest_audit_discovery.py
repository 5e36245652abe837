"""The look-ahead audit of a sampled week's discovery: the pickers run before the weekly run (app/backtest_discovery.py)
rerun just before the real ones, as a dry run (a draft view: nothing reaches the database) in a market holding no bar
after the week's as-of session, and their judgements and watchlist must be the same.

In watchlist (and both) mode the committee's universe is that watchlist; the weekly run's cut-off rerun
(app/backtest_audit.py) reads it from the books, as the real run set it, so a discovery that read the week to come
changed what the committee was offered and every audit passed. Compared: each picker's SuggestionsMade and the
WatchlistSet (their cost aside: a dry run under --live-misses buys what the real run then reads from the cache), and
the picker's model calls, keyed "discovery:..."; a difference is recorded with the weekly run's verdict's role
"discovery: <key>" (app/backtest_audits.py)."""

from __future__ import annotations

import json
from datetime import date

from llmtrade.app.backtest_audit import CALL, Draft, keep_draft_calls, texts_of, wall
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.backtest_discovery import BacktestDiscovery
from llmtrade.app.discovery import current_watchlist, record_discovery
from llmtrade.domain.discovery import SuggestionsMade, WatchlistSet
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.runs import CountedRunIds, issued_by
from llmtrade.domain.streams import DISCOVERY, UNIVERSE, week_stream
from llmtrade.errors import LlmtradeError, RunStopped, TemporaryError
from llmtrade.exits import causes
from llmtrade.storage.event_store import EventStore

PREFIX = "discovery:"
_MADE, _LISTED = SuggestionsMade.event_type(), WatchlistSet.event_type()


def dry_run_discovery(app: BacktestContainer, discovery: BacktestDiscovery, week_id: date) -> tuple[Draft, int] | None:
    """The week's discovery as a dry run that can see no bar after the week's as-of session, with the discovery
    stream's version before the real one runs (`compare_discovery` reads the real one's events after it); None when
    the real one will not run (the week's universe fixed, or its session judged already: a resume)."""
    with app.storage() as storage:
        fixed = storage.events.stream_version(week_stream(week_id, UNIVERSE)) > 0
        current = current_watchlist(storage)
        last = app.calendar.last_completed_session(app.clock.now())
        if fixed or (current.latest is not None and current.latest.session == last):
            return None
        mark = storage.events.stream_version(DISCOVERY)
    app.cutoff, app.opened = wall(app.calendar, app.clock.now())
    app.last_draft = None
    try:
        try:
            # Its own run ids, so the real run is named the same whether or not its week was audited.
            with issued_by(CountedRunIds("lookahead-audit")), app.storage(persist=False) as draft:
                # No held bars: the market built for the run is the cut one (BacktestContainer.market).
                run_id, _, _ = record_discovery(app, draft, discovery.candidates, current=current, week_id=week_id)
        finally:
            app.cutoff = app.opened = None
        own = [] if app.last_draft is None else [e for e in app.last_draft.appended() if e.run_id == run_id]
        return Draft(_items(own, [e for e in own if e.type == CALL])), mark
    except LlmtradeError as exc:
        if any(isinstance(link, (TemporaryError, RunStopped)) for link in causes(exc)):
            raise  # not the cut market's doing: the real discovery would stop on it too (as backtest_audit.py)
        # The real one failing alike (too little history) records no judgement either: nothing to compare then.
        return Draft({}), mark
    finally:
        keep_draft_calls(app)


def compare_discovery(events: EventStore, drafted: tuple[Draft, int]) -> tuple[str, str, str] | None:
    """The real discovery's judgements (the discovery stream's events after the mark) against the cut-off one's: None
    when the same, else (the first key that differs, the real text, the cut-off one's)."""
    draft, mark = drafted
    real = [e for e in events.read_stream(DISCOVERY) if e.version > mark]
    run_ids = sorted({e.run_id for e in real if e.run_id})
    mine = _items(real, [call for run_id in run_ids for call in events.read(run_id=run_id, type=CALL)])
    for key in [*mine, *(k for k in draft.items if k not in mine)]:
        if mine.get(key, "") != draft.items.get(key, ""):
            return key, mine.get(key, "(nothing)"), draft.items.get(key, "(nothing)")
    return None


def _items(found: list[StoredEvent], calls: list[StoredEvent]) -> dict[str, str]:
    """The discovery run's comparable texts: its picker's model calls (`calls`), each picker's judgement (`found`: its
    discovery stream's events), the watchlist."""
    items = {PREFIX + key: text for key, text in texts_of(calls).items()}
    for event in found:
        if event.type == _MADE:
            made = SuggestionsMade.from_event(event)
            items[f"{PREFIX}{made.picker}"] = json.dumps(made.model_dump(mode="json", exclude={"cost_usd"}), indent=1)
        elif event.type == _LISTED:
            items[f"{PREFIX}watchlist"] = json.dumps(event.payload, indent=1, sort_keys=True, default=str)
    return items
