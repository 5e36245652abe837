"""Which splits move a price read before them (pure): a pitch's stop on `close`, a week's opening close. Only a split
come since whose restatement the price had not seen: one recorded before the price was read (a provider restating
overnight, before Wednesday's pitch) had restated it already, and scaling it again made a 4-for-1's stop a quarter of
what the pitch meant (found reviewing the change)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from llmtrade.domain.committee import Invalidation, Threshold, WatchedIndicator
from llmtrade.domain.ledger import Split, split_since
from llmtrade.domain.market import SplitDetected
from llmtrade.workflows.frozen_trade import FrozenTrade, through_splits

FROZEN_AT = datetime(2026, 1, 7, 13, tzinfo=UTC)  # Wednesday 08:00 New York, before the open
NOW = datetime(2026, 1, 9, 15, tzinfo=UTC)


def _split(ex_day: date, known_at: datetime, ratio: float = 4.0) -> Split:
    detected = SplitDetected(
        symbol="SPY", ex_day=ex_day, ratio=ratio, looks_like="4-for-1", price=100.0, provider="t", evidence="t"
    )
    return Split.of(detected, known_at)


def _frozen() -> FrozenTrade:
    stop = Threshold(indicator="close", op="<", value=380.0)
    trend = Threshold(indicator="return_4w", op=">", value=-0.1)
    watched = [
        WatchedIndicator(name="level", threshold=stop, why="x"),
        WatchedIndicator(name="t", threshold=trend, why="x"),
    ]
    return FrozenTrade("SPY", "LONG", 2, [], watched, Invalidation(text="x", rule=stop), None, FROZEN_AT)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("split", "stop"),
    [
        (_split(date(2026, 1, 8), datetime(2026, 1, 9, 12, tzinfo=UTC)), 95.0),  # came and recorded since: moved
        (_split(date(2026, 1, 7), datetime(2026, 1, 8, 12, tzinfo=UTC)), 95.0),  # ex Wednesday, recorded after: moved
        (_split(date(2026, 1, 7), datetime(2026, 1, 7, 12, tzinfo=UTC)), 380.0),  # recorded before the pitch: as frozen
        (_split(date(2026, 1, 6), datetime(2026, 1, 8, 12, tzinfo=UTC)), 380.0),  # before the closes it saw: as frozen
        (_split(date(2026, 1, 12), datetime(2026, 1, 9, 12, tzinfo=UTC)), 380.0),  # not come yet: as frozen
    ],
)
def test_a_frozen_stop_moves_with_the_splits_its_prices_had_not_seen(split: Split, stop: float) -> None:
    moved = through_splits(_frozen(), [split], NOW)
    assert moved.invalidation.rule.value == pytest.approx(stop)
    assert [w.threshold.value for w in moved.watched] == [pytest.approx(stop), -0.1]  # a return is no price level


def test_a_weeks_opening_close_read_after_the_split_was_recorded_is_not_scaled_again() -> None:
    overnight = _split(date(2026, 1, 7), datetime(2026, 1, 7, 12, tzinfo=UTC))  # restated before Wednesday's run
    assert split_since([overnight], "SPY", date(2026, 1, 6), FROZEN_AT, NOW) == 1.0
    later = _split(date(2026, 1, 8), datetime(2026, 1, 9, 12, tzinfo=UTC))
    assert split_since([overnight, later], "SPY", date(2026, 1, 6), FROZEN_AT, NOW) == 4.0
    assert split_since([later], "QQQ", date(2026, 1, 6), FROZEN_AT, NOW) == 1.0
