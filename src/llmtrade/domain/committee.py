"""The committee's records (DESIGN.md section 4): pitches, peer reviews and the chairman's decision.

The `*Reply` models are what a model writes (their JSON schema is what it is sent); the `*Answer`
records are built from them, and llmtrade adds ids, the week, the model name and the time.

A strict-mode model may return any instance of the schema it is given, so every rule that can be
is in the schema: instruments are an enum of the universe (the schema is built per universe, see
`pitch_reply_schema`), scores and conviction are enums, and the model never writes a direction
next to a conviction: it writes one conviction from -2 to +2 and the direction is its sign, so
the two cannot disagree.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, create_model, model_validator

from llmtrade.domain.events import EventPayload
from llmtrade.domain.records import Direction, Record


def _no_truth_value(value: Any) -> Any:
    """JSON's true and false are no numbers (nor are they to JSON Schema: true is not the enum's 1), but pydantic reads
    them as 1 and 0 for an integer Literal: a `"conviction": true` from a model held to no strict format was a long."""
    if isinstance(value, bool):
        raise ValueError(f"a number is wanted, not {str(value).lower()}")
    return value


# An integer enum's validation: a number of the enum, never a boolean taken for one.
NUMBER_ONLY = BeforeValidator(_no_truth_value)

# Small integer ranges are enums, not minimum/maximum: every strict-mode implementation enforces an
# enum, while numeric bounds are refused or ignored by some providers.
Conviction = Annotated[Literal[-2, -1, 0, 1, 2], NUMBER_ONLY]
CONVICTION_HELP = (
    "-2 strong short, -1 short, 0 flat (no position), +1 long, +2 strong long; "
    "the direction is the sign and the size follows the magnitude"
)

Horizon = Literal["1w"]
IndicatorName = Literal[
    "close",
    "return_1w",
    "return_4w",
    "return_12w",
    "price_vs_sma_20",
    "price_vs_sma_50",
    "price_vs_sma_200",
    "rsi_14",
    "realized_vol_20",
    "drawdown_from_52w_high",
    "corr_spy_60",
    "pnl_pct",
]


class Threshold(Record):
    """A machine-checkable condition on one indicator of the pitched instrument."""

    indicator: IndicatorName
    op: Literal["<", "<=", ">", ">="]
    value: float

    def holds(self, observed: float) -> bool:
        return {
            "<": observed < self.value,
            "<=": observed <= self.value,
            ">": observed > self.value,
            ">=": observed >= self.value,
        }[self.op]

    def describe(self) -> str:
        return f"{self.indicator} {self.op} {self.value:g}"


class WatchedIndicator(Record):
    name: str = Field(min_length=1, max_length=120)
    threshold: Threshold
    why: str = Field(min_length=1, max_length=500)


class Invalidation(Record):
    text: str = Field(min_length=1, max_length=1000)
    rule: Threshold  # when this holds at a checkpoint, the thesis is invalidated


def _sign_agrees(direction: str, conviction: int) -> None:
    if direction == "FLAT" and conviction != 0:
        raise ValueError("a FLAT pitch must have conviction 0")
    if direction == "LONG" and conviction <= 0:
        raise ValueError("a LONG pitch needs a positive conviction (1 or 2)")
    if direction == "SHORT" and conviction >= 0:
        raise ValueError("a SHORT pitch needs a negative conviction (-1 or -2)")


class PitchAnswer(Record):
    instrument: str
    direction: Direction
    horizon: Horizon
    thesis_bullets: list[str] = Field(min_length=1, max_length=5)
    indicators: list[WatchedIndicator] = Field(min_length=1, max_length=6)
    invalidation: Invalidation
    conviction: int = Field(ge=-2, le=2)

    @model_validator(mode="after")
    def _conviction_matches_direction(self) -> PitchAnswer:
        _sign_agrees(self.direction, self.conviction)
        return self


def direction_of(conviction: int) -> Direction:
    """The side a conviction stands for: the one place direction is derived from conviction."""
    return "LONG" if conviction > 0 else "SHORT" if conviction < 0 else "FLAT"


class PitchReply(Record):
    """What a PM writes: a pitch without a direction, which follows from the conviction's sign."""

    instrument: str
    horizon: Horizon
    thesis_bullets: list[str] = Field(min_length=1, max_length=5)
    indicators: list[WatchedIndicator] = Field(min_length=1, max_length=6)
    invalidation: Invalidation
    conviction: Conviction = Field(description=CONVICTION_HELP)

    def to_answer(self) -> PitchAnswer:
        return PitchAnswer(**self.model_dump(), direction=direction_of(self.conviction))


def pitch_reply_schema(symbols: list[str]) -> type[PitchReply]:
    return _pitch_reply_schema(tuple(symbols))


@cache
def _pitch_reply_schema(symbols: tuple[str, ...]) -> type[PitchReply]:
    # Cached per universe: one class per answer shape, so strict_schema's per-class cache serves every call.
    # Named PitchAnswer on the wire (the response format's name), as before the reply/answer split.
    instrument: Any = Literal[tuple(symbols)]  # type: ignore[valid-type]
    return create_model("PitchAnswer", __base__=PitchReply, instrument=(instrument, ...))


class Pitch(PitchAnswer):
    idea_id: str
    week_id: date
    model: str
    pm_id: str
    account_id: str
    timestamp: datetime


# 1 (worst) to 10 (best), an enum for the same reason as Conviction.
Score = Annotated[Literal[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], NUMBER_ONLY]


class ReviewScores(Record):
    clarity: Score
    edge_plausibility: Score
    timing_catalyst: Score
    risk_definition: Score
    indicator_integrity: Score
    originality: Score
    tradeability: Score

    def mean(self) -> float:
        values = list(self.model_dump().values())
        return sum(values) / len(values)


class ReviewAnswer(Record):
    scores: ReviewScores
    best_argument_against: str = Field(min_length=1, max_length=2000)
    one_flip_condition: str = Field(min_length=1, max_length=1000)
    suggested_fix: str = Field(min_length=1, max_length=1000)


class Review(ReviewAnswer):
    review_id: str
    pitch_id: str
    reviewer_model: str
    reviewer_pm_id: str
    anonymized_pitch_id: str


class SelectedTrade(Record):
    instrument: str
    direction: Direction
    horizon: Horizon


class MonitoringPlan(Record):
    checkpoints: list[str] = Field(max_length=10)
    key_indicators: list[WatchedIndicator] = Field(max_length=6)
    watch_conditions: list[str] = Field(max_length=10)


class DecisionAnswer(Record):
    selected_trade: SelectedTrade
    conviction: int = Field(ge=-2, le=2)
    rationale: str = Field(min_length=1, max_length=4000)
    dissent_summary: list[str] = Field(max_length=8)
    monitoring_plan: MonitoringPlan
    invalidation: Invalidation

    @model_validator(mode="after")
    def _conviction_matches_direction(self) -> DecisionAnswer:
        _sign_agrees(self.selected_trade.direction, self.conviction)
        return self


class TradeChoice(Record):
    """The chairman's instrument and horizon; the direction follows from its conviction."""

    instrument: str
    horizon: Horizon


class DecisionReply(Record):
    """What the chairman writes: one conviction, from which the trade's direction follows."""

    selected_trade: TradeChoice
    conviction: Conviction = Field(description=CONVICTION_HELP)
    rationale: str = Field(min_length=1, max_length=4000)
    dissent_summary: list[str] = Field(max_length=8)
    monitoring_plan: MonitoringPlan
    invalidation: Invalidation

    def to_answer(self) -> DecisionAnswer:
        data = self.model_dump()
        trade = data.pop("selected_trade")
        return DecisionAnswer(**data, selected_trade=SelectedTrade(**trade, direction=direction_of(self.conviction)))


def decision_reply_schema(symbols: list[str]) -> type[DecisionReply]:
    return _decision_reply_schema(tuple(symbols))


@cache
def _decision_reply_schema(symbols: tuple[str, ...]) -> type[DecisionReply]:
    # Cached per universe: one class per answer shape, so strict_schema's per-class cache serves every call.
    instrument: Any = Literal[tuple(symbols)]  # type: ignore[valid-type]
    trade = create_model("SelectedTrade", __base__=TradeChoice, instrument=(instrument, ...))
    return create_model("DecisionAnswer", __base__=DecisionReply, selected_trade=(trade, ...))


class Decision(DecisionAnswer):
    decision_id: str
    week_id: date
    model: str
    account_id: str
    timestamp: datetime


class AggregateScore(Record):
    pitch_id: str
    pm_id: str
    mean_score: float
    reviews: int
    rank: int


# ---------------------------------------------------------------- events


class PitchSubmitted(EventPayload):
    pitch: Pitch


class PitchFailed(EventPayload):
    pm_id: str
    model: str
    account_id: str
    error_type: str
    error: str


class ReviewSubmitted(EventPayload):
    review: Review
    labels: dict[str, str]  # label shown to this reviewer -> pitch_id


class ReviewFailed(EventPayload):
    reviewer_pm_id: str
    model: str
    error_type: str
    error: str
    # The pitch the review was of; None on events stored before reviews were retried one by one.
    pitch_id: str | None = None


class ReviewsAggregated(EventPayload):
    scores: list[AggregateScore]


class DecisionMade(EventPayload):
    decision: Decision
    labels: dict[str, str]  # label shown to the chairman -> pitch_id
