"""Knowledge-cutoff periods of live books whose models.yaml changed between weeks: the cutoffs the split is taken
from are those of the models that decided the weeks, not only of the models configured now."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from llmtrade.app.leaderboard import build_leaderboard
from llmtrade.domain.committee import PitchSubmitted
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import PITCHES, week_stream
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from tests.test_leaderboard_build import FILLS, FIRST_RUN, LAST_RUN, _Clock, _container, _ny, _real_prices, _write_books
from tests.test_memory_use_units import _pitch

CUTOFF = date(2024, 12, 31)  # of every model configured now


def _books(storage: Storage, models: dict[date, str]) -> Storage:
    """Real-priced books (tests/test_leaderboard_build.py) whose acct_1 pitched with `models[week]` each week."""
    clock = _Clock()
    events = EventStore(storage.conn, clock)
    _write_books(events, clock, [FIRST_RUN, _ny(date(2024, 12, 4), 8), LAST_RUN], FILLS)
    for week, model in models.items():
        clock.instant = _ny(week, 8)
        pitch = _pitch().model_copy(update={"week_id": week, "model": model, "account_id": "acct_1"})
        events.append([NewEvent.of(PitchSubmitted(pitch=pitch), stream=week_stream(week, PITCHES), week_id=week)])
    _real_prices(storage, events, clock)
    return replace(storage, events=events)


def _weeks(first: date, last: date) -> list[date]:
    return [first + timedelta(days=7 * i) for i in range((last - first).days // 7 + 1)]


def test_a_model_swapped_out_after_the_cutoff_is_a_model_of_unknown_cutoff(storage: Storage, database_url: str) -> None:
    """acct_1's PM was openai/gpt-4o until the week of 2025-01-15, then swapped in models.yaml for the configured
    model, whose cutoff (2024-12-31) the split is at. gpt-4o decided three weeks after that cutoff, and models.yaml no
    longer says what it read: the period after was called evidence, with nothing said of the model that traded it."""
    app = _container(database_url, CUTOFF, CUTOFF)
    configured = app.loaded.config.models.pms[0].model
    weeks = _weeks(date(2024, 11, 6), date(2025, 2, 19))
    swapped = date(2025, 1, 22)
    board = build_leaderboard(
        app, _books(storage, {w: "openai/gpt-4o" if w < swapped else configured for w in weeks}), source="live"
    )
    assert [p.end for p in board.periods][:1] == [date(2024, 12, 31)]
    [unknown] = [n for n in board.notes if n.startswith("no knowledge_cutoff")]
    assert "openai/gpt-4o" in unknown and "no longer a PM, chairman or research model in models.yaml" in unknown
    evidence = next(n for n in board.notes if "only the period after it is evidence" in n)
    assert "unless the models without a knowledge_cutoff" in evidence and "openai/gpt-4o" in evidence


def test_a_model_swapped_out_before_the_cutoff_leaves_the_evidence_as_it_was(
    storage: Storage, database_url: str
) -> None:
    """gpt-4o decided only weeks on or before the configured models' cutoff, which are no evidence already: the period
    after it is the configured models' alone, and nothing is said of gpt-4o's cutoff."""
    app = _container(database_url, CUTOFF, CUTOFF)
    configured = app.loaded.config.models.pms[0].model
    weeks = _weeks(date(2024, 11, 6), date(2025, 2, 19))
    board = build_leaderboard(
        app,
        _books(storage, {w: "openai/gpt-4o" if w <= CUTOFF else configured for w in weeks}),
        source="live",
    )
    assert not any(n.startswith("no knowledge_cutoff") for n in board.notes)
    evidence = next(n for n in board.notes if "only the period after it is evidence" in n)
    assert "unless" not in evidence


def test_a_research_model_swapped_out_after_the_cutoff_is_one_of_unknown_cutoff(
    storage: Storage, database_url: str
) -> None:
    """Research A's model was perplexity/sonar until the week of 2025-01-15, then swapped for the configured one: the
    PMs pitched from its packs three weeks after the configured models' cutoff (a researcher that has read the week's
    future passes it on), and nothing said so. A pack the offline rules provider wrote was read by no model."""
    app = _container(database_url, CUTOFF, CUTOFF)
    books = _books(storage, {})
    for week in _weeks(date(2024, 11, 6), date(2025, 2, 19)):
        model = "perplexity/sonar" if week < date(2025, 1, 22) else "perplexity/sonar-pro"
        mode = "offline" if model == "perplexity/sonar-pro" else "live"
        _pack(books.events, week, f"A: {model} ({mode})")
        _pack(books.events, week, "B: openai/o3 (offline)")  # the rules' answers: no model read anything
    board = build_leaderboard(app, books, source="live")
    [unknown] = [n for n in board.notes if n.startswith("no knowledge_cutoff")]
    assert "perplexity/sonar (no longer" in unknown and "openai/o3" not in unknown


def _pack(events: EventStore, week: date, source: str) -> None:
    """A research pack's event, of the fields the leaderboard reads (the pack's research_source, as
    workflows/research_stages.py writes it: "ID: MODEL (MODE)")."""
    payload = {"pack": {"week_id": week.isoformat(), "research_source": source}, "content_hash": "0"}
    events.append([NewEvent(type="ResearchPackBuilt", stream=f"test-research:{week}", payload=payload, week_id=week)])
