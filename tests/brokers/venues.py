"""A venue is a broker plus the market it trades in, driven the same way for every broker.

The contract suite (tests/test_broker_contract.py) speaks only to `Venue`: it opens and closes
sessions at given prices and counts the writes the broker made. Each broker gets one venue class
here: the paper broker on the real event store with a clock the venue moves through real NYSE
sessions, and the Alpaca broker through real alpaca-py against the loopback fake. Adding a broker
to the contract suite is one more class and one more entry in `VENUES`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta

from llmtrade.brokers.protocol import Broker
from llmtrade.brokers.registry import FACTORIES, BrokerContext
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.config.models import Account, AccountRole
from llmtrade.market.calendar import NEW_YORK, TradingCalendar
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage
from tests.fakes.alpaca_server import FakeAlpacaServer

ACCOUNT = "acct_c"
SHORTABLE = ("SPY", "QQQ")
NOT_SHORTABLE = "GME"  # a known asset that cannot be shorted
KEY_ID, SECRET = "contract-key", "contract-secret"


class Venue:
    broker: Broker

    def open_session(self, prices: dict[str, float]) -> None:
        """A new session opens at `prices`: queued orders fill at them, orders sent now fill at once."""
        raise NotImplementedError

    def close_session(self) -> None:
        """The session ends: orders sent from now on queue for the next open."""
        raise NotImplementedError

    def writes(self) -> int:
        """How many writes the broker has made so far (events appended, or non-GET requests)."""
        raise NotImplementedError


class MovableClock(FixedClock):
    def set(self, instant: datetime) -> None:
        self._instant = instant


class Opens:
    """Opening prices by (symbol, day): a fill's price is fixed by its day, as the real data is."""

    def __init__(self) -> None:
        self.prices: dict[tuple[str, date], float] = {}

    def opening_price(self, symbol: str, day: date) -> float | None:
        return self.prices.get((symbol, day))


def _account(broker: str) -> Account:
    return Account.model_validate(
        {
            "id": ACCOUNT,
            "role": AccountRole.PM.value,
            "broker": broker,
            "starting_cash": 100_000.0,
            **({"alpaca": {"key_env": "CONTRACT_KEY", "secret_env": "CONTRACT_SECRET"}} if broker == "alpaca" else {}),
        }
    )


# Monday 5 January 2026, 08:00 New York: before the open, so the market starts closed.
START = datetime(2026, 1, 5, 13, 0, tzinfo=UTC)


class PaperVenue(Venue):
    """`storage` must stamp its events by `clock`, as a run's store and broker read one clock: the paper broker stamps
    a fill no earlier than its order's record (brokers/paper_fills.py), so a store on another clock moves its fills."""

    def __init__(self, storage: Storage, clock: MovableClock) -> None:
        self.storage = storage
        self.calendar = TradingCalendar()
        self.clock = clock
        self.opens = Opens()
        config = load_config().config
        # No slippage or commission: the venues must agree to the cent on what a trade made.
        paper = config.accounts.paper.model_copy(update={"slippage_bps": 0.0, "commission_per_order": 0.0})
        base = config.assets.universe[0]
        universe = [
            base.model_copy(update={"symbol": s, "name": s, "shortable": s in SHORTABLE})
            for s in (*SHORTABLE, NOT_SHORTABLE)
        ]
        config = config.model_copy(
            update={
                "accounts": config.accounts.model_copy(update={"paper": paper}),
                "assets": config.assets.model_copy(update={"universe": universe}),
            }
        )
        # Built through the registry's own factory, as a run builds it.
        self.broker = FACTORIES["paper"](
            BrokerContext(_account("paper"), Settings(), config, storage.events, self.clock, self.calendar, self.opens)
        )

    def open_session(self, prices: dict[str, float]) -> None:
        opened = self.calendar.next_open(self.clock.now())
        day = opened.astimezone(NEW_YORK).date()
        for symbol, price in prices.items():
            self.opens.prices[(symbol, day)] = price
        self.clock.set(opened + timedelta(hours=2, minutes=30))  # noon in New York

    def close_session(self) -> None:
        today = self.clock.now().astimezone(NEW_YORK).date()
        self.clock.set(datetime.combine(today, time(16, 30), tzinfo=NEW_YORK))

    def writes(self) -> int:
        return self.storage.events.count()


class AlpacaVenue(Venue):
    def __init__(self, server: FakeAlpacaServer) -> None:
        self.server = server
        for symbol in SHORTABLE:
            server.add_asset(symbol, shortable=True)
        server.add_asset(NOT_SHORTABLE, shortable=False)
        from llmtrade.brokers.alpaca import AlpacaBroker

        self.broker = AlpacaBroker(ACCOUNT, KEY_ID, SECRET, url_override=server.base_url, timeout_seconds=2.0)

    def open_session(self, prices: dict[str, float]) -> None:
        for symbol, price in prices.items():
            self.server.set_price(symbol, price)
        self.server.fill_immediately = True
        self.server.fill_open_orders()

    def close_session(self) -> None:
        self.server.fill_immediately = False

    def writes(self) -> int:
        return sum(1 for r in self.server.requests if r.method != "GET")


@contextmanager
def paper_venue(storage: Storage, clock: MovableClock) -> Iterator[Venue]:
    yield PaperVenue(storage, clock)


@contextmanager
def alpaca_venue(storage: Storage, clock: MovableClock) -> Iterator[Venue]:
    with FakeAlpacaServer(key_id=KEY_ID, secret_key=SECRET) as server:
        venue = AlpacaVenue(server)
        try:
            yield venue
        finally:
            venue.broker.close()  # type: ignore[attr-defined]


VENUES = {"paper": paper_venue, "alpaca": alpaca_venue}
