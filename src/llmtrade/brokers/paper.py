"""The local paper broker: simulated fills, a ledger kept as events, balances rebuilt from them.

Market orders fill at the next session's open when the market is closed, and at the latest price
when it is open: with daily bars that is the session's opening price, the most recent price a
daily feed knows during the session. Slippage moves every fill against the trader; commission is
per order. Nothing is stored but events, so `account()` is a fold over the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Protocol

from llmtrade.clock import Clock
from llmtrade.domain.events import NewEvent
from llmtrade.domain.ledger import fold
from llmtrade.domain.streams import ledger_stream
from llmtrade.domain.trading import (
    AccountSnapshot,
    Fill,
    Order,
    OrderFilled,
    OrderResult,
    OrderStatus,
    PaperOrderAccepted,
    Position,
    Side,
)
from llmtrade.market.calendar import TradingCalendar, new_york_date
from llmtrade.storage.event_store import EventStore


class OpeningPrices(Protocol):
    def opening_price(self, symbol: str, day: date) -> float | None: ...


class PaperBroker:
    name = "paper"

    def __init__(
        self,
        account_id: str,
        *,
        starting_cash: float,
        events: EventStore,
        clock: Clock,
        calendar: TradingCalendar,
        prices: OpeningPrices,
        slippage_bps: float = 5.0,
        commission_per_order: float = 0.0,
        shortable: frozenset[str] | None = None,
    ):
        self.account_id = account_id
        self.starting_cash = starting_cash
        self._events = events
        self._clock = clock
        self._calendar = calendar
        self._prices = prices
        self._slippage = slippage_bps / 10_000
        self._commission = commission_per_order
        self._shortable = shortable

    # ------------------------------------------------------------------ Broker

    def account(self, prices: Mapping[str, float]) -> AccountSnapshot:
        self.settle()
        cash, positions, realized = self._fold()
        marks = {s: prices.get(s, p.avg_price) for s, p in positions.items()}
        exposure = sum(abs(p.qty) * marks[s] for s, p in positions.items())
        equity = cash + sum(p.qty * marks[s] for s, p in positions.items())
        unrealized = sum(p.qty * (marks[s] - p.avg_price) for s, p in positions.items())
        return AccountSnapshot(
            account_id=self.account_id,
            cash=round(cash, 2),
            equity=round(equity, 2),
            buying_power=round(max(0.0, equity - exposure), 2),
            positions=positions,
            realized_pnl=round(realized, 2),
            unrealized_pnl=round(unrealized, 2),
        )

    def submit(self, order: Order) -> OrderResult:
        existing = self.find(order.client_order_id)
        if existing is not None:
            return existing  # idempotent: a rerun gets the order it already placed
        now = self._clock.now()
        fill_after = now if self._calendar.is_open(now) else self._calendar.next_open(now)
        self._append(PaperOrderAccepted(order=order, fill_after=fill_after))
        self.settle()
        return self.find(order.client_order_id) or OrderResult(
            client_order_id=order.client_order_id, status=OrderStatus.ACCEPTED
        )

    def find(self, client_order_id: str) -> OrderResult | None:
        accepted, fills = self._ledger()
        if client_order_id not in accepted:
            return None
        fill = fills.get(client_order_id)
        if fill is None:
            when = accepted[client_order_id].fill_after
            return OrderResult(
                client_order_id=client_order_id,
                status=OrderStatus.ACCEPTED,
                broker_order_id=f"paper-{client_order_id}",
                message=f"queued for {when.isoformat()}",
            )
        return OrderResult(
            client_order_id=client_order_id,
            status=OrderStatus.FILLED,
            broker_order_id=f"paper-{client_order_id}",
            filled_qty=fill.qty,
            fill_price=fill.price,
        )

    def is_shortable(self, symbol: str) -> bool:
        return self._shortable is None or symbol in self._shortable

    # ------------------------------------------------------------------ fills

    def settle(self) -> list[Fill]:
        """Fill every queued order whose time has come and whose opening price is known."""
        now = self._clock.now()
        accepted, fills = self._ledger()
        done = []
        for cid, pending in accepted.items():
            if cid in fills or pending.fill_after > now:
                continue
            day = new_york_date(pending.fill_after)
            price = self._prices.opening_price(pending.order.symbol, day)
            if price is None:
                continue  # no price yet: try again on the next look
            order = pending.order
            slipped = price * (1 + self._slippage) if order.side is Side.BUY else price * (1 - self._slippage)
            fill = Fill(
                client_order_id=cid,
                account_id=self.account_id,
                symbol=order.symbol,
                side=order.side,
                qty=order.qty,
                price=round(slipped, 4),
                commission=self._commission,
                filled_at=pending.fill_after,
            )
            self._append(OrderFilled(fill=fill, broker=self.name), week_id=order.week_id)
            done.append(fill)
        return done

    def open_orders(self) -> list[Order]:
        """Orders accepted but not filled yet (queued for the open)."""
        self.settle()
        accepted, fills = self._ledger()
        return [a.order for cid, a in accepted.items() if cid not in fills]

    def fills(self) -> list[Fill]:
        return list(self._ledger()[1].values())

    def _ledger(self) -> tuple[dict[str, PaperOrderAccepted], dict[str, Fill]]:
        accepted: dict[str, PaperOrderAccepted] = {}
        fills: dict[str, Fill] = {}
        for event in self._events.read_stream(ledger_stream(self.account_id)):
            if event.type == PaperOrderAccepted.event_type():
                payload = PaperOrderAccepted.from_event(event)
                accepted[payload.order.client_order_id] = payload
            elif event.type == OrderFilled.event_type():
                fill = OrderFilled.from_event(event).fill
                fills[fill.client_order_id] = fill
        return accepted, fills

    def _fold(self) -> tuple[float, dict[str, Position], float]:
        """Cash, positions and realised P/L (net of commissions) from the fills, in order."""
        ledger = fold(self.fills(), self.starting_cash)
        return ledger.cash, ledger.positions, ledger.realized_pnl

    def _append(self, payload: PaperOrderAccepted | OrderFilled, week_id: date | None = None) -> None:
        order_week = payload.order.week_id if isinstance(payload, PaperOrderAccepted) else week_id
        self._events.append(
            [
                NewEvent.of(
                    payload, stream=ledger_stream(self.account_id), week_id=order_week, account_id=self.account_id
                )
            ]
        )
