"""The circuit breaker sees every fill of a plan before each of its orders that may open or add.

The account was valued after an order only when the POST's answer said FILLED, and before a side change's opening leg.
Alpaca answers a market order "pending_new" and fills it a moment later, and a queued order fills at the open, which
can come while a plan is being sent: a plan [close QQQ at a loss, buy TLT] sent the buy though the close's fill had
already made the breaker's tenth straight loss. Now the plan's orders that may still fill are looked up before each
opening order; one that filled is valued first, and the halt it makes blocks the buy with the breaker's reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.order_plan import client_order_id, plan_orders
from llmtrade.config.loader import load_config
from llmtrade.domain.checkpoints import OrderBlocked
from llmtrade.domain.trading import Order, OrderResult, Position, Side
from llmtrade.risk.controls import breaker_state, halted
from llmtrade.storage.bootstrap import Storage
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.execution import revaluer, send_orders
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.test_breaker_protects import Clock, Opens, _broker

CONFIG = load_config(None).config
ACCOUNT = CONFIG.accounts.accounts[0]
LIMIT = CONFIG.risk.circuit_breaker.halt_consecutive_losses
WEEK = date(2026, 1, 7)
EARLIER = WEEK - timedelta(days=7)
STREAM = "week:2026-01-07:orders"
KEY, SECRET = "k", "s"


def _order(symbol: str, side: Side, qty: int, intent: str, week: date = EARLIER) -> Order:
    return Order(
        client_order_id=client_order_id(week, ACCOUNT.id, symbol, intent),
        account_id=ACCOUNT.id,
        week_id=week,
        symbol=symbol,
        side=side,
        qty=qty,
        intent=intent,
    )


def _blocked(storage: Storage) -> list[OrderBlocked]:
    return [OrderBlocked.from_event(e) for e in storage.events.read(type=OrderBlocked.event_type())]


def test_at_alpaca_a_close_filled_after_its_post_halts_the_account_before_the_plans_buy(storage: Storage) -> None:
    with FakeAlpacaServer(key_id=KEY, secret_key=SECRET) as server:
        server.fill_immediately = True
        broker = AlpacaBroker(ACCOUNT.id, KEY, SECRET, url_override=server.base_url, timeout_seconds=2)
        desk = Desk(ACCOUNT, broker)
        for k in range(LIMIT - 1):  # losing round trips, one short of the breaker's limit
            server.set_price(f"Z{k}", 100.0)
            broker.submit(_order(f"Z{k}", Side.BUY, 1, "open"))
            server.set_price(f"Z{k}", 99.0)
            broker.submit(_order(f"Z{k}", Side.SELL, 1, "close"))
        server.set_price("QQQ", 400.0)
        broker.submit(_order("QQQ", Side.BUY, 10, "open"))
        prices = {"QQQ": 380.0, "TLT": 90.0}
        after_fill = revaluer(storage.events, desk, CONFIG, prices, week_id=WEEK, run_id="r")
        after_fill()  # the week start's valuation
        state, _ = breaker_state(storage.events, ACCOUNT.id, ACCOUNT.starting_cash)
        assert state.consecutive_losses == LIMIT - 1 and not state.halted
        server.fill_immediately, server.fill_after_post = False, True  # answered pending_new, filled a moment later
        server.set_price("QQQ", 380.0)
        server.set_price("TLT", 90.0)
        held = {"QQQ": Position(symbol="QQQ", qty=10, avg_price=400.0)}
        close, buy = plan_orders(WEEK, ACCOUNT.id, held, "TLT", 50)
        assert (close.symbol, close.intent, buy.symbol, buy.intent) == ("QQQ", "close", "TLT", "open")

        send_orders(
            storage.events, broker, [close, buy], stream=STREAM, week_id=WEEK, run_id="r", after_fill=after_fill
        )

        stop, why = halted(storage.events, ACCOUNT.id)
        assert stop and f"{LIMIT} consecutive losing trades" in why
        assert buy.client_order_id not in server.orders  # the buy never reached Alpaca
        [blocked] = _blocked(storage)
        assert blocked.client_order_id == buy.client_order_id
        assert blocked.reason.startswith(f"circuit breaker: {why}") and "may only reduce or close" in blocked.reason
        assert server.orders[close.client_order_id]["status"] == "filled"  # the close went


class _OpensWhileSending:
    """A paper broker's clock that reaches the open right after the first order of a plan is sent."""

    def __init__(self, clock: Clock, at: datetime) -> None:
        self.clock, self.at = clock, at

    def __call__(self, result: OrderResult) -> OrderResult:
        self.clock.instant = self.at
        return result


def test_on_paper_a_close_queued_then_filled_at_the_open_halts_the_account_before_the_plans_buy(
    storage: Storage,
) -> None:
    clock = Clock(datetime(2026, 1, 6, 17, 0, tzinfo=UTC))  # Tuesday, in session
    paper = _broker(storage, CONFIG, clock, Opens(), slippage_bps=5)  # each round trip loses its slippage
    desk = Desk(ACCOUNT, paper)
    for k in range(LIMIT - 1):
        paper.submit(_order(f"Z{k}", Side.BUY, 1, "open"))
        paper.submit(_order(f"Z{k}", Side.SELL, 1, "close"))
    paper.submit(_order("QQQ", Side.BUY, 10, "open"))
    after_fill = revaluer(storage.events, desk, CONFIG, {"QQQ": 100.0, "TLT": 100.0}, week_id=WEEK, run_id="r")
    after_fill()
    state, _ = breaker_state(storage.events, ACCOUNT.id, ACCOUNT.starting_cash)
    assert state.consecutive_losses == LIMIT - 1 and not state.halted
    clock.instant = datetime(2026, 1, 7, 14, 29, tzinfo=UTC)  # Wednesday, a minute before the open
    held = {"QQQ": paper.account({}).positions["QQQ"]}
    close, buy = plan_orders(WEEK, ACCOUNT.id, held, "TLT", 50)
    opens = _OpensWhileSending(clock, datetime(2026, 1, 7, 14, 31, tzinfo=UTC))
    submit = paper.submit
    paper.submit = lambda order: opens(submit(order))  # type: ignore[method-assign]

    send_orders(storage.events, paper, [close, buy], stream=STREAM, week_id=WEEK, run_id="r", after_fill=after_fill)

    stop, why = halted(storage.events, ACCOUNT.id)
    assert stop and f"{LIMIT} consecutive losing trades" in why
    [blocked] = _blocked(storage)
    assert blocked.client_order_id == buy.client_order_id and why in blocked.reason
    assert paper.find(buy.client_order_id) is None  # never sent
    assert "TLT" not in paper.account({}).positions and "QQQ" not in paper.account({}).positions
