"""What llmtrade says of an order Alpaca scaled at a split while it was open (its qty times the split's ratio:
alpacahq/alpaca-py #469), said everywhere in the shares of the splits recorded since it was sent, in one wording
(brokers/overfills.py `part_filled`: "1 of 2 filled, 10 sent before the 1-for-5 split"). The real alpaca-py client
against the loopback fake, which scales an open order at a split as Alpaca does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from llmtrade.alerts.incidents import find_incidents
from llmtrade.brokers.fills import record_new_fills
from llmtrade.clock import SteppingClock
from llmtrade.config.loader import load_config
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.workflows.execution import send_orders
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import KEY, SECRET, STREAM, WEEK
from tests.test_alpaca_replaced_orders import CLOSE, CLOSE_ID, LEG, NIGHT, OPEN, _broker, _posts
from tests.test_alpaca_split_side_change import _split

# Tuesday 2026-01-06, the ex-day of `_split`'s split: before the open, then in the session.
TUESDAY_8AM, TUESDAY_10AM = datetime(2026, 1, 6, 13, 0, tzinfo=UTC), datetime(2026, 1, 6, 15, 0, tzinfo=UTC)


@pytest.fixture
def stepped(database_url: str) -> Iterator[tuple[Storage, SteppingClock]]:
    """A store whose events are stamped at the instant the test sets: a split recorded before an order was sent."""
    clock = SteppingClock(TUESDAY_8AM)
    with open_storage(Settings(DATABASE_URL=database_url), clock) as opened:
        yield opened, clock


@pytest.mark.parametrize(
    ("ratio", "named", "part", "said"),
    [
        (4.0, "4-for-1", 16, "56 of 40 filled, 10 sent before the 4-for-1 split"),
        (0.2, "1-for-5", 1, "3 of 2 filled, 10 sent before the 1-for-5 split"),
    ],
)
def test_the_alert_of_an_overfill_of_an_order_scaled_by_a_split_says_it_in_the_splits_shares(
    storage: Storage, ratio: float, named: str, part: int, said: str
) -> None:
    """The close of 10, scaled to 40 at a 4-for-1, filled 16 and was replaced by a person with the 40 again
    (alpacahq/Alpaca-API #165): 56 sold. The run's note said it in the split's shares, but the alert's title said
    "filled 56 of 10" (of 2 scaled from 10 at a 1-for-5: "filled 3 of 10", as if fewer than sent had filled)."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        server.set_position("SPY", 10, 480.0)
        server.set_time(NIGHT)
        broker = _broker(server)
        send_orders(storage.events, broker, [CLOSE], stream=STREAM, week_id=WEEK, run_id="r1")
        server.split("SPY", ratio)
        _split(storage, ratio, named)
        server.set_time(OPEN)
        server.mark_routed(CLOSE_ID)
        server.partially_fill(CLOSE_ID, part, 500.0 / ratio)
        server.replace_order(CLOSE_ID)
        server.fill_open_orders()
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

    now = max(e.occurred_at for e in storage.events.read(type="OrderOverfilled"))
    incidents = find_incidents(storage.events, load_config(None).config, now, silence=False)
    [alert] = [i for i in incidents if i.kind == "order-overfilled"]
    assert said in alert.title, alert.title
    assert "of 10" not in alert.title, alert.title
    assert len(alert.title) <= 120, alert.title


def test_a_close_replaced_by_hand_after_a_split_recorded_before_it_was_sent_is_not_named_the_split(
    stepped: tuple[Storage, SteppingClock],
) -> None:
    """The 4-for-1 split of Tuesday was recorded at 08:00 (the broker's position), and the week's side change was sent
    at 10:00, its close of 10 sized in the new shares (Alpaca scales only an order open at the split). A person
    replaced the close with one of 40, which filled. The leg was given up "for the split": 40 is 10 times the ratio of
    a split recorded since the week began, though that split came before the close existed."""
    storage, clock = stepped
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.add_asset("SPY", shortable=True, easy_to_borrow=True)
        server.set_position("SPY", 10, 120.0)  # in the new shares: the split is the broker's already
        server.set_price("SPY", 125.0)
        _split(storage, 4.0, "4-for-1")  # recorded at 08:00
        clock.set(TUESDAY_10AM)
        server.set_time(TUESDAY_10AM)
        broker = _broker(server)
        send_orders(storage.events, broker, [CLOSE, LEG], stream=STREAM, week_id=WEEK, run_id="r1")
        server.mark_routed(CLOSE_ID)
        server.replace_order(CLOSE_ID, qty=40)  # by hand: exactly the 10 times the split's ratio
        server.fill_open_orders()
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")
        posts = _posts(server)

        sent = send_orders(storage.events, broker, [CLOSE, LEG], stream=STREAM, week_id=WEEK, run_id="r2")

        assert _posts(server) == posts  # the leg never went: the account is short 30, not flat
        [gone] = sent.abandoned
        assert "split" not in gone.reason, gone.reason
        assert "filled 40 shares at alpaca where it was sent for 10 (" in gone.reason, gone.reason


def test_a_close_scaled_by_a_split_then_replaced_by_hand_says_its_fill_in_the_splits_shares(storage: Storage) -> None:
    """The close of 10, queued over a 4-for-1 (40 at Alpaca), was replaced by a person with one of 30, which filled.
    The leg's abandonment said the close "filled 30 shares at alpaca where it was sent for" the order's repr (and, had
    it said the 10, 30 of the new shares against 10 of the old): now "30 of 40 filled, 10 sent before the 4-for-1
    split"."""
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.add_asset("SPY", shortable=True, easy_to_borrow=True)
        server.set_position("SPY", 10, 490.0)
        server.set_price("SPY", 500.0)
        server.set_time(NIGHT)
        broker = _broker(server)
        send_orders(storage.events, broker, [CLOSE, LEG], stream=STREAM, week_id=WEEK, run_id="r1")
        server.split("SPY", 4.0)  # the queued close of 10 is one of 40
        _split(storage, 4.0, "4-for-1")
        server.set_time(OPEN)
        server.mark_routed(CLOSE_ID)
        server.replace_order(CLOSE_ID, qty=30)
        server.fill_open_orders()
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

        sent = send_orders(storage.events, broker, [CLOSE, LEG], stream=STREAM, week_id=WEEK, run_id="r2")

        [gone] = sent.abandoned
        assert "filled 30 shares at alpaca (30 of 40 filled, 10 sent before the 4-for-1 split; " in gone.reason, (
            gone.reason
        )
        assert "(10 shares)" in gone.reason  # 40 held, 30 sold: 10 still held, the leg must not go


def test_a_buy_from_flat_filled_whole_over_a_reverse_split_not_recorded_yet_is_no_end(storage: Storage) -> None:
    """The buy of 10 SPY, queued over a 1-for-5 (2 at Alpaca), filled its 2 at the open; the look that booked them
    came before the split was recorded, and nothing will show it soon: the account bought from flat, so books and
    Alpaca both hold the 2 new shares. The order was recorded as an end, "2 of 10 filled", and the run said the
    trade did not happen. Alpaca filled llmtrade's own order (not replaced) whole: it changes an open order's qty
    itself only at a split (alpacahq/alpaca-py #469). No end is recorded; the order is read again at the next look, and
    once the split is recorded it is the order filled whole."""
    from llmtrade.brokers.order_ends import ended_notes
    from tests.test_alpaca_order_ends import CID, ORDER

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        server.set_time(NIGHT)
        broker = _broker(server)
        send_orders(storage.events, broker, [ORDER], stream=STREAM, week_id=WEEK, run_id="r1")
        server.split("SPY", 0.2)  # the queued 10 are 2
        server.set_time(OPEN)
        assert server.fill_open_orders() == [CID]

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")  # the split not recorded yet

        assert storage.events.read(type="QueuedOrderCanceled") == [], ended_notes(storage.events, "r2")
        assert ended_notes(storage.events, "r2") == []
        [filled] = storage.events.read(type="OrderFilled")
        assert filled.payload["fill"]["qty"] == 2  # booked as it happened, in the new shares
        _split(storage, 0.2, "1-for-5")
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r3")
        assert storage.events.read(type="QueuedOrderCanceled") == []
        assert storage.events.read(type="OrderOverfilled") == []


def test_an_overfill_by_a_split_ratio_with_no_split_recorded_names_the_split_it_may_be(storage: Storage) -> None:
    """The buy of 10 SPY, queued over a 4-for-1 (40 at Alpaca), filled its 40 at the open, booked by a look before the
    split was recorded. It is said overfilled once (Alpaca's filled_qty past the qty sent, never replaced), but the note
    called it "an answer it should never give" and told the user to trade 30 shares back by hand: the plan's 10, in the
    new shares. Alpaca changes an order's qty itself at a split: the note says the split it may be."""
    from llmtrade.brokers.overfills import overfilled_notes
    from tests.test_alpaca_order_ends import ORDER

    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 500.0)
        server.set_time(NIGHT)
        broker = _broker(server)
        send_orders(storage.events, broker, [ORDER], stream=STREAM, week_id=WEEK, run_id="r1")
        server.split("SPY", 4.0)  # the queued 10 are 40
        server.set_time(OPEN)
        server.fill_open_orders()

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")  # the split not recorded yet

        [line] = overfilled_notes(storage.events, "r2")
        assert "40 are the 10 sent at a 4-for-1 split's ratio" in line, line
        assert "alpacahq/alpaca-py #469" in line and "no split of SPY is recorded" in line, line
        assert "an answer it should never give" not in line, line


def test_a_close_sent_after_a_split_was_recorded_and_part_filled_says_its_part_in_the_shares_it_was_sent_in(
    stepped: tuple[Storage, SteppingClock],
) -> None:
    """The 4-for-1 of Tuesday recorded at 08:00, the side change sent at 10:00 (its close of 10 sized in the new shares,
    never scaled), the close filled 4 and expired. Its leg's abandonment said "4 of 40 filled, 10 sent before the
    4-for-1 split": the close was sent after the split, for 10 of the new shares."""
    storage, clock = stepped
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.add_asset("SPY", shortable=True, easy_to_borrow=True)
        server.set_position("SPY", 10, 120.0)
        server.set_price("SPY", 125.0)
        _split(storage, 4.0, "4-for-1")  # recorded at 08:00
        clock.set(TUESDAY_10AM)
        server.set_time(TUESDAY_10AM)
        broker = _broker(server)
        send_orders(storage.events, broker, [CLOSE, LEG], stream=STREAM, week_id=WEEK, run_id="r1")
        server.mark_routed(CLOSE_ID)
        server.partially_fill(CLOSE_ID, 4, 125.0)
        server.end_order(CLOSE_ID, "expired")
        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

        sent = send_orders(storage.events, broker, [CLOSE, LEG], stream=STREAM, week_id=WEEK, run_id="r2")

        [gone] = sent.abandoned
        assert "before filling whole (4 shares filled;" in gone.reason, gone.reason
        assert "split" not in gone.reason, gone.reason


def test_an_order_sent_after_a_split_was_recorded_and_part_filled_is_an_end_in_the_shares_it_was_sent_in(
    stepped: tuple[Storage, SteppingClock],
) -> None:
    """A 1-for-5 of Tuesday recorded at 08:00; a buy of 10 sent at 10:00 (in the new shares, never scaled) filled 2 and
    expired. The 2 were read against the 10 times the split's 1/5 (the rule for an order sent before the split): the
    order filled whole, no end recorded, nothing said of the 8 shares the plan meant that never traded."""
    from llmtrade.brokers.order_ends import ended_notes
    from tests.test_alpaca_order_ends import CID, ORDER

    storage, clock = stepped
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 2500.0)
        _split(storage, 0.2, "1-for-5")  # recorded at 08:00
        clock.set(TUESDAY_10AM)
        server.set_time(TUESDAY_10AM)
        broker = _broker(server)
        send_orders(storage.events, broker, [ORDER], stream=STREAM, week_id=WEEK, run_id="r1")
        server.mark_routed(CID)
        server.partially_fill(CID, 2, 2500.0)
        server.end_order(CID, "expired")

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

        [line] = ended_notes(storage.events, "r2")
        assert "ended at alpaca, 2 of 10 filled:" in line, line


def test_an_order_sent_after_a_split_was_recorded_and_overfilled_by_its_ratio_is_said_overfilled(
    stepped: tuple[Storage, SteppingClock],
) -> None:
    """A 4-for-1 of Tuesday recorded at 08:00; a buy of 10 sent at 10:00 (in the new shares, never scaled), replaced by
    a person with one of 40, which filled. The 40 were read against the 10 times the split's 4: nothing said of the 30
    bought past the plan."""
    from llmtrade.brokers.overfills import overfilled_notes
    from tests.test_alpaca_order_ends import CID, ORDER

    storage, clock = stepped
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.set_price("SPY", 125.0)
        _split(storage, 4.0, "4-for-1")  # recorded at 08:00
        clock.set(TUESDAY_10AM)
        server.set_time(TUESDAY_10AM)
        broker = _broker(server)
        send_orders(storage.events, broker, [ORDER], stream=STREAM, week_id=WEEK, run_id="r1")
        server.mark_routed(CID)
        server.replace_order(CID, qty=40)
        server.fill_open_orders()

        record_new_fills(storage.events, broker, week_id=WEEK, run_id="r2")

        [line] = overfilled_notes(storage.events, "r2")
        assert "more than the 10 llmtrade sent it for" in line and "30 more shares bought" in line, line
