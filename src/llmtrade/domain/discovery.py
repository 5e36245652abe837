"""Symbol discovery's records and events (issue 15): candidates' features, every picker's scores,
the watchlist and its manual edits, and the LLM picker's answer.

Every picker scores the whole candidate set each time it runs, so each run is one SuggestionsMade
event per picker carrying every candidate's rank and score (as-of time, picker, rank, score): a
picker's skill is measured over all its suggestions, not only its favourites.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from types import EllipsisType
from typing import Any, Literal

from pydantic import Field, create_model

from llmtrade.domain.events import EventPayload
from llmtrade.domain.records import Record, assembled

Picker = Literal["metric", "fuzzy", "llm", "random", "momentum", "ensemble"]
PICKERS: tuple[Picker, ...] = ("metric", "fuzzy", "llm", "random", "momentum", "ensemble")


class CandidateFeatures(Record):
    """What the pickers see of one candidate as of a session, from its daily bars.

    price: last close; avg_volume: mean shares a session over the last 20 sessions; spread: the
    Corwin-Schultz high-low spread estimate (a fraction of price, 0 when the estimate is negative)
    averaged over the last 20 session pairs; volatility: annualised stdev of the last 20 daily log
    returns; momentum: the return over the last `momentum_sessions` sessions (a fraction)."""

    symbol: str
    name: str = ""
    asset_class: str
    sector: str = ""
    sessions: int
    price: float
    avg_volume: float
    spread: float
    volatility: float
    momentum: float


class Suggestion(Record):
    """One candidate as one picker judged it: rank 1 is its best; score in 0..1; passed is the
    metric picker's pass/fail (None for the others); reason says why, in a few words."""

    symbol: str
    rank: int = Field(ge=1)
    score: float = Field(ge=0, le=1)
    passed: bool | None = None
    reason: str = ""


_JUDGED = frozenset({"symbol", "rank", "score", "reason"})
_PASSED = _JUDGED | {"passed"}


def suggestion(
    symbol: str, rank: int, score: float, reason: str, passed: bool | EllipsisType | None = ...
) -> Suggestion:
    """`Suggestion(symbol=.., rank=.., score=.., reason=.., passed=..)` (`passed` left out when not given), built
    without validation when every value already is what validation would keep (a str, an int of at least 1, a
    float in 0..1, a bool or None): a backtest's pickers make some 600 a week. Any other value is validated,
    raising as the model does."""
    given = passed is not ...
    if (
        type(symbol) is str
        and type(rank) is int
        and rank >= 1
        and type(score) is float
        and 0 <= score <= 1
        and type(reason) is str
        and (passed is None or type(passed) is bool or not given)
    ):
        values = {"symbol": symbol, "rank": rank, "score": score, "passed": passed if given else None, "reason": reason}
        return assembled(Suggestion, values, set(_PASSED if given else _JUDGED))
    if given:
        return Suggestion(symbol=symbol, rank=rank, score=score, passed=passed, reason=reason)  # type: ignore[arg-type]
    return Suggestion(symbol=symbol, rank=rank, score=score, reason=reason)


class SuggestionsMade(EventPayload):
    """One picker's judgement of every candidate as of `asof` (the last complete session `session`).

    cost_usd is what the picker's model calls cost (the LLM picker; 0 for the others)."""

    picker: Picker
    asof: datetime
    session: date
    suggestions: list[Suggestion]
    cost_usd: float = 0.0
    model: str | None = None


class WatchlistEntry(Record):
    symbol: str
    asset_class: str
    rank: int = Field(ge=1)
    score: float
    manual: bool = False  # added by `watchlist add`, not by the ensemble


class Disagreement(Record):
    """The LLM picker picked what the metric picker rejects."""

    symbol: str
    llm_rank: int
    metric_reason: str


class WatchlistSet(EventPayload):
    """The watchlist a discovery run made (at most the configured size), and where pickers disagreed."""

    asof: datetime
    session: date
    entries: list[WatchlistEntry]
    disagreements: list[Disagreement] = Field(default_factory=list)


class WatchlistEdited(EventPayload):
    """A manual edit: include (always on the watchlist), exclude (never), or clear (back to the ensemble's word)."""

    symbol: str
    action: Literal["include", "exclude", "clear"]
    asset_class: str


# ---------------------------------------------------------------- the LLM picker's answer


class PickerPick(Record):
    symbol: str
    reason: str = Field(min_length=1, max_length=400)


class PickerReply(Record):
    """The LLM picker's answer: its view of the market and its ranked picks, best first."""

    market_view: str = Field(min_length=1, max_length=1000)
    picks: list[PickerPick]


def picker_reply_schema(symbols: list[str], most: int) -> type[PickerReply]:
    """PickerReply whose picks may only name `symbols` (an enum in the schema the model is sent).

    The parsed field stays a plain string: a provider without strict mode can still answer with a
    company name or a lower-case ticker, which agents/picker.py resolves to a candidate or drops,
    rather than a validation failure costing the whole answer."""
    return _picker_reply_schema(tuple(symbols), most)


@cache
def _picker_reply_schema(symbols: tuple[str, ...], most: int) -> type[PickerReply]:
    # Cached per candidate set: one class per answer shape, so strict_schema's per-class cache serves every call.
    symbol: Any = (str, Field(json_schema_extra={"enum": list(symbols)}))
    pick = create_model("PickerPick", __base__=PickerPick, symbol=symbol)
    return create_model(
        "PickerReply",
        __base__=PickerReply,
        picks=(list[pick], Field(min_length=1, max_length=most)),  # type: ignore[valid-type]
    )


class UniverseInstrument(Record):
    symbol: str
    asset_class: str
    name: str = ""
    shortable: bool = True
    discovered: bool = False  # from the watchlist, not assets.yaml's universe
    held: bool = False  # off this week's watchlist, kept because an account holds it


class UniverseFixed(EventPayload):
    """The instruments the committee may trade this week, fixed by the week's first job and read by
    every later one (reruns, checkpoints, the postmortem), so all of them see the same list.

    mode: the configured universe mode; watchlist_asof: the discovery run the watchlist came from
    (None when there was none yet, and the static universe stood in)."""

    mode: str
    instruments: list[UniverseInstrument]
    watchlist_asof: datetime | None = None


HORIZONS: tuple[int, ...] = (1, 5, 20)  # sessions after the as-of session


class ForwardReturns(EventPayload):
    """Every candidate's return from the close of `session` (a discovery run's as-of session) to the close
    `horizon` sessions later (`matured`), raw and in excess of SPY's; a candidate without prices for the span is in
    `unmeasured` instead. Written once per (session, horizon), only after `matured` has closed: an outcome is never
    visible before it happened."""

    session: date
    horizon: int
    matured: date
    benchmark_return: float
    returns: dict[str, float]
    # The judged symbols without a return, and why (a provider that has nothing for one, its CSV file gone, a delisted
    # symbol; or no close on `session` or `matured`): left out of `returns`, so unmeasured, never a zero. Left out of
    # the record when empty, as outcomes stored before it were written (a recorded outcome is never re-measured).
    unmeasured: dict[str, str] = Field(default_factory=dict, exclude_if=lambda symbols: not symbols)

    def excess(self, symbol: str) -> float | None:
        raw = self.returns.get(symbol)
        return None if raw is None else raw - self.benchmark_return


class DiscoveryFailed(EventPayload):
    """run-due's discovery before week `week_id`'s weekly run failed (app/discovery.py `discover_before_weekly`),
    judging the candidates as of `session` (the last session closed): `error` what failed, `temporary` whether it was
    a wait (exit 75: retried by the next wake-up) or would fail the same way (not run again for that session)."""

    week_id: date
    session: date
    error: str
    temporary: bool


class ForwardReturnsFailureSaid(EventPayload):
    """run-due said that its daily forward returns failed for good (app/forward_returns_said.py): `error` what failed,
    said again only when it changes; None when a later wake-up filled them and said so (the failure over)."""

    error: str | None
