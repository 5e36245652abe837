"""The weekly research pack (DESIGN.md section 4) and the market snapshot it carries.

The model writes the findings; llmtrade adds the week, the as-of time, the source and the
snapshot, then freezes and hashes the pack. Later stages and every checkpoint of the week read
the stored pack, never fresh research.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from functools import cache
from typing import Any, Literal

from pydantic import Field, create_model

from llmtrade.domain.events import EventPayload
from llmtrade.domain.market import IndicatorSet
from llmtrade.domain.records import Direction, Record
from llmtrade.memo import IdentityMemo

Impulse = Literal["up", "down", "neutral"]


Text = Field(min_length=1, max_length=2000)


class MacroRegime(Record):
    risk_mode: Literal["risk_on", "risk_off", "mixed"]
    rates_impulse: Impulse
    usd_impulse: Impulse
    inflation_impulse: Impulse
    growth_impulse: Impulse


class Narrative(Record):
    name: str = Field(min_length=1, max_length=200)
    why_it_moves_prices_this_week: str = Text
    key_catalysts_next_7d: list[str] = Field(max_length=8)
    what_would_falsify_it: str = Text


class ConsensusMap(Record):
    street_consensus: str = Text
    positioning_guess: str = Text
    what_market_is_priced_for: str = Text
    what_would_surprise: str = Text


class Candidate(Record):
    instrument: str
    directional_bias: Direction
    one_week_thesis: str = Text
    primary_risks: list[str] = Field(min_length=1, max_length=6)
    watch_indicators: list[str] = Field(min_length=1, max_length=8)
    invalidation_rule: str = Text


class ConfidenceNotes(Record):
    known_unknowns: list[str] = Field(max_length=10)
    data_quality_flags: list[str] = Field(max_length=10)


class ResearchFindings(Record):
    """What a research provider writes (the LLM's part of the pack)."""

    macro_regime: MacroRegime
    top_narratives: list[Narrative] = Field(min_length=1, max_length=5)
    consensus_map: ConsensusMap
    tradable_candidates: list[Candidate] = Field(min_length=1, max_length=8)
    event_calendar_next_7d: list[str] = Field(max_length=15)
    confidence_notes: ConfidenceNotes


def findings_schema(symbols: list[str]) -> type[ResearchFindings]:
    """ResearchFindings whose candidates may only name instruments of the universe."""
    return _findings_schema(tuple(symbols))


@cache
def _findings_schema(symbols: tuple[str, ...]) -> type[ResearchFindings]:
    # Cached per universe: one class per answer shape, so strict_schema's per-class cache serves every call.
    instrument: Any = Literal[tuple(symbols)]  # type: ignore[valid-type]
    candidate = create_model("Candidate", __base__=Candidate, instrument=(instrument, ...))
    return create_model(
        "ResearchFindings",
        __base__=ResearchFindings,
        tradable_candidates=(list[candidate], Field(min_length=1, max_length=8)),  # type: ignore[valid-type]
    )


class MarketSnapshot(Record):
    """Indicators for the whole universe as of one instant, with where the prices came from."""

    asof: datetime
    session: date  # the last session complete at `asof`
    source: str
    synthetic: bool
    indicators: dict[str, IndicatorSet]
    # Symbols whose last bar is a price not to size a trade off yet (market/jumps.py `last_suspect`: a split-like jump
    # or a close at twice or half the one before) -> what it looks like. Left out of the record when empty, as snapshots
    # stored before it were written.
    suspect: dict[str, str] = Field(default_factory=dict, exclude_if=lambda held: not held)
    # Universe symbols the week runs without, their prices having ended (market/snapshot.py `week_snapshot`) -> why, in
    # the feed's words. Left out of the record when empty, as snapshots stored before it were written.
    left_out: dict[str, str] = Field(default_factory=dict, exclude_if=lambda held: not held)


class ResearchPack(ResearchFindings):
    week_id: date
    asof_et: datetime
    research_source: str  # "A: perplexity/sonar-pro (live)" etc.
    label: str
    snapshot: MarketSnapshot

    def content_hash(self) -> str:
        """The sha256 of `json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))`. A week's
        packs (one per research provider) carry one snapshot object, the bulk of that text: its part is written once
        per snapshot object (`_snapshot_text`) and put in the pack's text where json.dumps writes it (json.dumps
        writes a nested dict as it writes that dict alone, with the same options)."""
        fields = self.model_dump(mode="json", exclude={"snapshot"})
        text = _sorted_json({**fields, "snapshot": _SPLICE})
        marker = _sorted_json(_SPLICE)
        if text.count(marker) != 1:  # the marker's text inside a finding (never in practice): no splice
            text = _sorted_json(self.model_dump(mode="json"))
        else:
            text = text.replace(marker, _SNAPSHOT_TEXTS.of(self.snapshot, _snapshot_text), 1)
        return hashlib.sha256(text.encode()).hexdigest()


def _sorted_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _snapshot_text(snapshot: MarketSnapshot) -> str:
    return _sorted_json(snapshot.model_dump(mode="json"))


# Where the snapshot's text goes in a pack's (a string no model writes: control characters, escaped by json.dumps).
_SPLICE = "\x00llmtrade:snapshot\x00"
# A frozen snapshot -> its text in `ResearchPack.content_hash` (a week's packs share one snapshot object).
_SNAPSHOT_TEXTS: IdentityMemo[MarketSnapshot, str] = IdentityMemo(8)


class MarketSnapshotTaken(EventPayload):
    snapshot: MarketSnapshot


class ResearchPackBuilt(EventPayload):
    pack: ResearchPack
    content_hash: str


class ResearchProviderFailed(EventPayload):
    label: str
    model: str
    error_type: str
    error: str
