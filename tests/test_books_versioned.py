"""One look at the paper book per account (PaperBroker.look_at, with the look's version), and what the reconciliation
and the valuation keep from one look to the next with the same version: always what a fresh look gives, never a
draft's records taken for the store's, never a fill left unrecorded."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta

from llmtrade.brokers.fills import look_at, observe, valuation_event
from llmtrade.brokers.paper import PaperBroker
from llmtrade.brokers.reconcile import look
from llmtrade.config.loader import load_config
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.events import NewEvent
from llmtrade.domain.reconciliation import PositionAdopted
from llmtrade.domain.streams import managed_stream
from llmtrade.domain.trading import AccountSnapshot, Order, OrderFilled, Side
from llmtrade.market.calendar import TradingCalendar
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.convictions import _Convictions
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.valuation import value_account
from tests.test_paper_broker import BEFORE_OPEN, DURING, WEEK, Clock, Opens, _order

CONFIG = load_config(None).config
PRICES = {"TLT": 91.0, "GLD": 180.0}


def _paper(storage: Storage, clock: Clock, *, starting_cash: float = 100_000.0) -> PaperBroker:
    return PaperBroker(
        "acct_1",
        starting_cash=starting_cash,
        events=storage.events,
        clock=clock,
        calendar=TradingCalendar(),
        prices=Opens({("TLT", WEEK): 90.0, ("TLT", WEEK + timedelta(days=1)): 92.0}),
    )


class Plain:
    """A broker offering the Broker protocol only (as a remote one does): no look of its own, no version."""

    def __init__(self, inner: PaperBroker):
        self.inner = inner
        self.name = inner.name
        self.account_id = inner.account_id
        self.records_own_ends = inner.records_own_ends
        self.settles_at_price = inner.settles_at_price
        self.settle = inner.settle
        self.account = inner.account
        self.open_orders = inner.open_orders
        self.fills = inner.fills
        self.submit = inner.submit
        self.find = inner.find
        self.cancel = inner.cancel
        self.is_shortable = inner.is_shortable

    def look_at(self, prices: Mapping[str, float]) -> None:
        return None

    def record_canceled(self, *, run_id: str | None) -> list[str]:
        return []


def _filled(storage: Storage) -> OrderFilled | None:
    found = storage.events.read(account_id="acct_1", type=OrderFilled.event_type())
    return storage.events.payload(OrderFilled, found[0]) if found else None


def test_one_look_at_the_paper_book_is_its_account_then_its_orders_and_fills_and_names_the_book(
    storage: Storage,
) -> None:
    clock = Clock(BEFORE_OPEN)
    broker = _paper(storage, clock)
    broker.submit(_order("TLT", Side.BUY, 100))
    broker.submit(_order("GLD", Side.BUY, 10))  # its opening price is never known: it stays queued
    account, seen = look_at(broker, PRICES)
    fresh = observe(broker)
    assert account == broker.account(PRICES) and account.positions == {}
    assert (list(seen.fills), seen.working, seen.orders) == (fresh.fills, fresh.working, fresh.orders)
    assert fresh.version is None and seen.version is not None
    assert look_at(broker, {"TLT": 95.0})[1].version == seen.version  # prices move nothing in the book

    clock.set(DURING)  # TLT fills at the open: derived on the look, not recorded yet
    account, filled = look_at(broker, PRICES)
    assert filled.version != seen.version and [f.symbol for f in filled.fills] == ["TLT"]
    assert account == broker.account(PRICES) and filled.fills == broker.fills()
    assert filled.working == {_order("GLD", Side.BUY, 10).client_order_id}  # GLD still queued
    value_account(storage.events, Desk(CONFIG.accounts.account("acct_1"), broker), account, CONFIG, **_AT)
    recorded = look_at(broker, PRICES)[1]
    assert recorded.version not in (seen.version, filled.version)  # a recorded fill is a new book
    assert list(recorded.fills) == filled.fills  # recorded: the book's own tuple; derived: a list

    # A broker that offers no look of its own is read as ever, in the same order, and has no version.
    plain_account, plain = look_at(Plain(broker), PRICES)  # type: ignore[arg-type]
    assert plain.version is None and plain_account == account and plain.fills == filled.fills


_AT = {"occasion": "checkpoint 2026-01-07 12:00", "week_id": WEEK, "run_id": "r1"}


def test_a_valuation_at_the_same_look_records_each_fill_once_and_a_drafts_records_are_not_the_stores(
    storage: Storage,
) -> None:
    clock = Clock(BEFORE_OPEN)
    broker = _paper(storage, clock)
    broker.submit(_order("TLT", Side.BUY, 100))
    clock.set(DURING)
    desk = Desk(CONFIG.accounts.account("acct_1"), broker)
    account, seen = look_at(broker, PRICES)
    managed = look(storage.events, broker, account, PRICES, observed=seen).managed

    # A draft (a dry run's store) records the fill in the draft alone: the store's valuation still has it to record.
    draft = storage.events.draft()
    value_account(draft, desk, managed, CONFIG, **_AT, observed=seen)
    assert draft.read(account_id="acct_1", type=OrderFilled.event_type()) and _filled(storage) is None
    value_account(storage.events, desk, managed, CONFIG, **{**_AT, "occasion": "after fill"}, observed=seen)
    assert _filled(storage) is not None
    # The same look again (its fills recorded by the valuation before): nothing is recorded twice.
    value_account(storage.events, desk, managed, CONFIG, **{**_AT, "occasion": "after fill"}, observed=seen)
    assert len(storage.events.read(account_id="acct_1", type=OrderFilled.event_type())) == 1

    # A new order filling later is a new look: its fill is recorded.
    clock.set(DURING + timedelta(days=1))
    broker.submit(Order(**{**_order("TLT", Side.SELL, 40, "reduce").model_dump(), "week_id": WEEK}))
    account, later = look_at(broker, PRICES)
    assert later.version != seen.version
    value_account(storage.events, desk, account, CONFIG, **{**_AT, "occasion": "after fill"}, observed=later)
    assert len(storage.events.read(account_id="acct_1", type=OrderFilled.event_type())) == 2


def test_a_look_at_the_same_book_reconciles_as_a_fresh_one_until_llmtrades_records_change(storage: Storage) -> None:
    clock = Clock(BEFORE_OPEN)
    broker = _paper(storage, clock)
    hand = Order(**{**_order("TLT", Side.BUY, 30).model_dump(), "client_order_id": "by-hand-1"})
    broker.submit(hand)  # a trade llmtrade did not send: an unmanaged position and an unknown fill
    clock.set(DURING)
    account, seen = look_at(broker, PRICES)
    first = look(storage.events, broker, account, PRICES, observed=seen)
    assert {d.kind for d in first.differences} == {"unmanaged_position", "unknown_fill"}
    assert first.managed.positions == {}
    again = look(storage.events, broker, account, {"TLT": 99.0}, observed=seen)  # the same book, other prices
    fresh = look(storage.events, Plain(broker), account, {"TLT": 99.0})  # type: ignore[arg-type]
    assert (again.differences, again.ledger, again.managed) == (fresh.differences, fresh.ledger, fresh.managed)

    # The user adopts the shares: the book is the same, the comparison is not.
    adopted = PositionAdopted(account_id="acct_1", symbol="TLT", qty=30, avg_price=90.0, price=91.0)
    storage.events.append(
        [NewEvent.of(adopted, stream=managed_stream("acct_1"), account_id="acct_1")],
        expected_versions={managed_stream("acct_1"): 0},
    )
    after = look(storage.events, broker, account, PRICES, observed=seen)
    fresh = look(storage.events, Plain(broker), account, PRICES)  # type: ignore[arg-type]
    assert (after.differences, after.ledger, after.managed) == (fresh.differences, fresh.ledger, fresh.managed)
    assert after.managed.positions["TLT"].qty == 30 and {d.kind for d in after.differences} == {"unknown_fill"}


def test_the_paper_accounts_snapshot_and_its_valuation_are_what_validation_gives(storage: Storage) -> None:
    broker = _paper(storage, Clock(BEFORE_OPEN), starting_cash=100_000)  # an int, as a config may give it
    account = broker.account(PRICES)
    assert type(account.cash) is float and account == AccountSnapshot(**account.model_dump())
    assert account.model_dump_json() == AccountSnapshot(**account.model_dump()).model_dump_json()
    event, _ = valuation_event(account, occasion="week start", week_id=WEEK, run_id="r1")
    validated = AccountValued(
        account_id="acct_1",
        equity=100_000.0,
        cash=100_000.0,
        realized_pnl=0.0,
        unrealized_pnl=0.0,
        occasion="week start",
    )
    assert event.payload == validated.model_dump(mode="json")
    # A copy made with an int (not validated) is validated on the way into the event: a float, as ever.
    copied = account.model_copy(update={"equity": 100_000})
    event, _ = valuation_event(copied, occasion="week start", week_id=WEEK, run_id="r1")
    assert type(event.payload["equity"]) is float


def test_the_convictions_by_week_are_the_latest_of_each_week_in_any_order() -> None:
    w1, w2, w3 = date(2026, 1, 7), date(2026, 1, 14), date(2026, 1, 21)
    latest = _Convictions({}, None, 0)
    assert dict(latest) == {} and len(latest) == 0
    steps = [(w1, 2), (w1, 1), (w2, -1), (w1, 0), (w3, 2), (w3, 1)]  # a late checkpoint of an earlier week too
    expected: dict[date, int] = {}
    for week, conviction in steps:
        before, as_it_was = latest, dict(latest)
        latest = latest.with_latest(week, conviction)
        expected[week] = conviction
        assert dict(latest) == expected and len(latest) == len(expected)
        assert latest.get(week) == conviction and latest.get(w3 + timedelta(days=7), 9) == 9
        assert dict(before) == as_it_was  # a fold's state is shared: the one before is left as it was


def test_looks_at_an_unchanged_book_hand_out_the_same_fills_and_what_is_kept_from_them_is_known_by_identity(
    storage: Storage,
) -> None:
    # Issue 13 (a week must not cost more as the history grows): every checkpoint looked at each account's fills,
    # copied them, and fill_view and the breaker's trades compared every one of them again. A look at a book with
    # nothing derived hands out the book's own tuple, which the next look hands out again, and what was made of it
    # is given back without a pass over the account's fills; a recorded fill is a new tuple, worked out afresh.
    from llmtrade.brokers.fill_view import view_of
    from llmtrade.domain.ledger import closed_trade_pnls
    from llmtrade.risk.controls import _CLOSED_TRADES

    clock = Clock(BEFORE_OPEN)
    broker = _paper(storage, clock)
    desk = Desk(CONFIG.accounts.account("acct_1"), broker)
    broker.submit(_order("TLT", Side.BUY, 100))
    clock.set(DURING)
    account, seen = look_at(broker, PRICES)
    value_account(storage.events, desk, account, CONFIG, **_AT, observed=seen)  # the fill recorded
    _, first = look_at(broker, PRICES)
    _, second = look_at(broker, {"TLT": 95.0})
    assert type(first.fills) is tuple and first.fills is second.fills and list(first.fills) == broker.fills()
    view = view_of(broker.name, "acct_1", first.fills)
    assert view_of(broker.name, "acct_1", second.fills) is view and view.fills is first.fills
    pnls = _CLOSED_TRADES.pnls("acct_1", view.ours(frozenset()))
    assert _CLOSED_TRADES.pnls("acct_1", view.ours(frozenset())) is pnls and pnls == ()

    # A round trip closes: a new book, a new tuple, the view and the trades carried on to what a fresh count gives.
    clock.set(DURING + timedelta(days=1))
    broker.submit(Order(**{**_order("TLT", Side.SELL, 100, "close").model_dump(), "week_id": WEEK}))
    account, later = look_at(broker, PRICES)
    value_account(storage.events, desk, account, CONFIG, **{**_AT, "occasion": "after fill"}, observed=later)
    _, closed = look_at(broker, PRICES)
    assert type(closed.fills) is tuple and closed.fills is not first.fills and len(closed.fills) == 2
    grown = view_of(broker.name, "acct_1", closed.fills)
    assert grown is not view and list(grown.fills) == broker.fills() and list(view.fills) == broker.fills()[:1]
    assert _CLOSED_TRADES.pnls("acct_1", grown.ours(frozenset())) == tuple(closed_trade_pnls(broker.fills()))
    assert len(closed_trade_pnls(broker.fills())) == 1
    # A list equal to the kept tuple (another broker's way of listing) gives the same answer, from the same count.
    assert _CLOSED_TRADES.pnls("acct_1", list(closed.fills)) == tuple(closed_trade_pnls(broker.fills()))
