"""An event checkpoint's id names its account once: EventCheckpointTriggered's `reference_checkpoint` read
`2026-01-07:2026-01-07T13:17:event:acct_4:acct_4` (the event checkpoint's label names the account, and the id added
it again). Ids recorded so stay as they were, and the next firing still measures from that checkpoint's price."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from llmtrade.domain.checkpoints import Checkpoint, CheckpointTaken, EventCheckpointTriggered, checkpoint_key
from llmtrade.domain.events import NewEvent
from llmtrade.domain.streams import checkpoint_stream, event_checkpoint_stream
from llmtrade.market.calendar import NEW_YORK
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.checkpoint_slot import Slot
from llmtrade.workflows.event_checkpoint import reference_price

WEEK = date(2026, 1, 7)


def test_a_checkpoints_id_names_its_account_once() -> None:
    assert Slot(WEEK, "12:00").checkpoint_id(WEEK, "acct_4") == "2026-01-07:2026-01-07T12:00:acct_4"
    event = Slot(WEEK, "13:17", event_for="acct_4")
    assert event.checkpoint_id(WEEK, "acct_4") == "2026-01-07:2026-01-07T13:17:event:acct_4"


@pytest.mark.parametrize(
    "recorded",
    ["2026-01-07:2026-01-07T13:17:event:acct_4", "2026-01-07:2026-01-07T13:17:event:acct_4:acct_4"],
    ids=["now", "an earlier build's"],
)
def test_an_event_checkpoint_is_the_next_ones_reference_whichever_id_it_was_recorded_with(
    storage: Storage, recorded: str
) -> None:
    fired_at = datetime(2026, 1, 7, 13, 15, tzinfo=NEW_YORK)
    trigger = EventCheckpointTriggered(
        key=checkpoint_key(WEEK, "13:17:event:acct_4"),
        account_id="acct_4",
        day=WEEK,
        time="13:17",
        symbol="QQQ",
        reference_checkpoint="2026-01-07:2026-01-07T12:00:acct_4",
        reference_price=100.0,
        reference_at=datetime(2026, 1, 7, 12, 0, tzinfo=NEW_YORK),
        price=107.0,
        price_at=fired_at,
        price_source="csv intraday-file",
        move=0.07,
        threshold=0.05,
    )
    checkpoint = Checkpoint(
        checkpoint_id=recorded,
        week_id=WEEK,
        day=WEEK,
        time="13:17",
        account_id="acct_4",
        instrument="QQQ",
        conviction_before=1,
        conviction_after=1,
        action="STAY",
        reason_delta="x",
        indicators_snapshot={"close": 99.0},  # a scheduled checkpoint's price: not what the firing recorded
        invalidation_triggered=False,
        decided_by="owner",
    )
    events = storage.events
    kept = {"week_id": WEEK, "account_id": "acct_4"}
    events.append([NewEvent.of(trigger, stream=event_checkpoint_stream(WEEK, "acct_4"), **kept)])
    stream = checkpoint_stream(WEEK, WEEK, "13:17:event:acct_4", "acct_4")
    events.append([NewEvent.of(CheckpointTaken(checkpoint=checkpoint), stream=stream, **kept)])
    found = reference_price(events, WEEK, "acct_4")
    assert found is not None
    assert (found.checkpoint_id, found.price, found.at) == (recorded, 107.0, fired_at)
