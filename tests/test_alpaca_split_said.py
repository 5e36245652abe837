"""What llmtrade says of an order Alpaca scaled at a split while it was open (its qty times the split's ratio:
alpacahq/alpaca-py #469), said everywhere in the shares of the splits recorded since it was sent, in one wording
(brokers/overfills.py `part_filled`: "1 of 2 filled, 10 sent before the 1-for-5 split"). The real alpaca-py client
against the loopback fake, which scales an open order at a split as Alpaca does."""

from __future__ import annotations

import pytest

from llmtrade.alerts.incidents import find_incidents
from llmtrade.brokers.fills import record_new_fills
from llmtrade.config.loader import load_config
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.execution import send_orders
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_alpaca_order_ends import KEY, SECRET, STREAM, WEEK
from tests.test_alpaca_replaced_orders import CLOSE, CLOSE_ID, NIGHT, OPEN, _broker
from tests.test_alpaca_split_side_change import _split


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
