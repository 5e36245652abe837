"""The Alpaca broker: account, positions and market orders through alpaca-py's TradingClient (paper by default).

Orders are made idempotent by their client_order_id, never by retrying blindly. alpaca-py's own retry
loop (429/504, on every call) is switched off (brokers/alpaca_client.py, which makes the calls): a 504 on
POST /v2/orders may come back after Alpaca accepted the order, and a second POST would either buy twice or
bounce off the duplicate check. So a
submission that ends ambiguously (timeout, dropped connection, 429, 5xx, any status that does not prove a
refusal: a proxy's 408) is settled by looking the order up by its client_order_id: found, it is the answer;
not found, Alpaca never got it and the caller may simply rerun, which sends it again under the same id. A
duplicate-id refusal (422, code 40010001) is answered the same way, by returning the order Alpaca already
holds. `submit` POSTs once, and a second time only after Alpaca's rate limit answered the first 429 and named a wait
short enough to wait out (brokers/alpaca_client.py): once it passed, a lookup by client_order_id that finds nothing
proves the first never landed, and the second POST carries the same id (a duplicate is refused 422, never filled).

Open orders and fills come from GET /v2/orders (paged by submission time, 500 at most per answer); a
fill is an order's filled quantity and average price so far, so a partial fill of a working order counts.
A cancel looks the order up by client_order_id and DELETEs it; a 422 (it filled or ended first) is no error, and no
cancel of ours (`CancelAnswer.asked`); a DELETE left unanswered is settled by the order's state (canceled or
pending_cancel: made, no error); an order being replaced (pending_replace), whose cancel Alpaca refuses, is waited out
first (brokers/alpaca_cancel.py).

A real-money endpoint (paper=False, or a url_override on api.alpaca.markets) is refused at construction,
before any request, unless live trading was explicitly enabled in risk.yaml.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from llmtrade.brokers.alpaca_cancel import cancel_order
from llmtrade.brokers.alpaca_chains import chain_result, folded_fills, folded_open
from llmtrade.brokers.alpaca_client import REFUSED, AlpacaTrading, limit_said, transport_detail
from llmtrade.brokers.alpaca_orders import (
    decimal,
    enum_value,
    fraction,
    is_working,
    leg_parents,
    money,
    short,
    single_orders,
    to_broker_order,
    to_position,
    to_result,
)
from llmtrade.brokers.alpaca_refusal_notes import is_duplicate_id, refusal
from llmtrade.brokers.alpaca_refusals import RefusalNote, is_lasting, refusal_note
from llmtrade.brokers.alpaca_same import scaled_note
from llmtrade.brokers.fills import Observed
from llmtrade.brokers.protocol import CancelAnswer
from llmtrade.domain.ledger import Split
from llmtrade.domain.market import Quote
from llmtrade.domain.trading import AccountSnapshot, BrokerOrder, Fill, Order, OrderResult, Position
from llmtrade.errors import (
    BrokerRejected,
    BrokerUnavailable,
    LiveTradingRefused,
    LlmtradeError,
    OperationalError,
    TemporaryError,
    UsageError,
)
from llmtrade.market.alpaca_http import error_message
from llmtrade.market.alpaca_limits import RateLimitWaits

# alpaca-py's BaseURL.TRADING_PAPER / TRADING_LIVE, spelled out so that building a broker (and refusing a
# live one) imports nothing of alpaca-py.
_PAPER_URL = "https://paper-api.alpaca.markets"
_LIVE_URL = "https://api.alpaca.markets"
_LIVE_HOST = "api.alpaca.markets"


# How long before its fill an order of ours may have been submitted: DAY orders, at most a long weekend
# plus a holiday in the queue; a week covers it with room.
_SUBMITTED_BEFORE_FILL = timedelta(days=7)


class AlpacaBroker:
    """One Alpaca account; `account_id` is our name for it, the keys decide which Alpaca account it is."""

    name = "alpaca"
    records_own_ends = False  # its ends are order statuses, recorded by brokers/order_ends.py
    settles_at_price = False  # Alpaca holds the positions: one is closed there, by a trade, never by llmtrade's books

    def settle(self, order: Order, quote: Quote) -> OrderResult:
        raise UsageError(f"{self.account_id} is an Alpaca account: close {order.symbol} at Alpaca, which holds it")

    def __init__(
        self,
        account_id: str,
        api_key: str,
        secret_key: str,
        *,
        paper: bool = True,
        url_override: str | None = None,
        timeout_seconds: float = 15.0,
        live_trading_enabled: bool = False,
        waits: RateLimitWaits | None = None,
        splits: Callable[[], Sequence[Split]] = tuple,
    ):
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.account_id = account_id
        self.paper = paper
        self.url_override = url_override
        self.timeout_seconds = timeout_seconds
        # The splits recorded (storage/splits.py; the registry hands the store's): the only ones that explain an order
        # Alpaca holds under our id for other shares than sent (`_same_order`). None recorded unless given.
        self._splits = splits
        self.endpoint = url_override or (_PAPER_URL if paper else _LIVE_URL)
        # A paper flag with a live URL is still real money: the host decides as much as the flag.
        self.live = not paper or (url_override is not None and _host(url_override) == _LIVE_HOST)
        if self.live and not live_trading_enabled:
            raise LiveTradingRefused(
                f"refusing to trade account {account_id!r} on Alpaca's live, real-money endpoint ({self.endpoint}): "
                "live trading is not enabled. Set `live_trading_enabled: true` in risk.yaml to allow it, "
                "or trade on paper."
            )
        self._api = AlpacaTrading(
            api_key,
            secret_key,
            paper=paper,
            url_override=url_override,
            endpoint=self.endpoint,
            timeout=timeout_seconds,
            waits=waits,
        )

    def __repr__(self) -> str:
        # Never show the keys, not even in a traceback's locals.
        return f"AlpacaBroker(account_id={self.account_id!r}, endpoint={self.endpoint!r}, live={self.live})"

    def close(self) -> None:
        """Release the pooled connection; the broker opens a new one if used again."""
        self._api.close()

    # ----------------------------------------------------------------- Broker protocol

    def account(self, prices: Mapping[str, float]) -> AccountSnapshot:
        found = self._api.fetch("the account", lambda client: client.get_account())
        held = self._api.fetch("the positions", lambda client: client.get_all_positions())
        positions: dict[str, Position] = {}
        fractions: dict[str, float] = {}
        marked: dict[str, float] = {}
        for raw in held:
            position = to_position(raw, prices)
            if position is not None:
                positions[position.symbol] = position
            # Under one whole unit (0.05 BTC bought by hand) there is no position, but its P/L is in the equity: the
            # broker's mark is kept for it too, for the managed view to take out (it is no share llmtrade trades).
            if (pnl := decimal(raw.unrealized_pl)) is not None:
                marked[raw.symbol] = float(pnl)
            if part := fraction(raw):
                fractions[raw.symbol] = part
        return AccountSnapshot(
            fractions=fractions,
            broker_pnl=marked,
            account_id=self.account_id,
            cash=money(found.cash, "account cash"),
            equity=money(found.equity, "account equity"),
            buying_power=money(found.buying_power, "account buying_power"),
            positions=positions,
            broker_account=_account_name(found),
        )

    def look_at(self, prices: Mapping[str, float]) -> tuple[AccountSnapshot, Observed] | None:
        return None  # the account, orders and fills are separate calls; nothing names Alpaca's books at an instant

    def record_canceled(self, *, run_id: str | None) -> list[str]:
        return []  # Alpaca records its own ends in an order's status, read back by brokers/order_ends.py

    def submit(self, order: Order) -> OrderResult:
        # lazy: alpaca-py is heavy; keeps CLI start-up fast
        from alpaca.trading.enums import OrderSide, TimeInForce
        from alpaca.trading.requests import MarketOrderRequest

        request = MarketOrderRequest(
            symbol=order.symbol,
            qty=order.qty,
            side=OrderSide(order.side.value),
            # DAY: sent while the market is closed, Alpaca queues it for the next open, as the weekly run wants.
            time_in_force=TimeInForce.DAY,
            client_order_id=order.client_order_id,
        )
        # A second POST only after a 429 waited out and a lookup finding nothing (`_post`): see the module docstring.
        for second in (False, True):
            if (result := self._post(order, request, second=second)) is not None:
                return result
        raise OperationalError(f"order {_describe(order)}: the second POST returned no answer")  # _post raises first

    def _post(self, order: Order, request: Any, *, second: bool) -> OrderResult | None:
        """One POST of `order`: Alpaca's answer, or the order a lookup found after an ambiguous one; None only when
        the POST was answered 429, its wait waited out, the lookup found nothing and this was not the `second`."""
        # lazy: alpaca-py is heavy; keeps CLI start-up fast
        import requests
        from alpaca.common.exceptions import APIError

        try:
            placed = self._api.client().submit_order(request)
        except APIError as exc:
            status, body = exc.status_code, str(exc)
            if status == 422 and is_duplicate_id(body):
                return self._already_known(order)
            if status in REFUSED:
                text = refusal(f"alpaca rejected order {_describe(order)}", status, body)
                note = self._refusal_note(status, body, order)
                # Not shortable, or an opening order's asset not tradable or crossing a holding by hand: given up once.
                lasting = is_lasting(status, body, opens=order.intent == "open", crossing=note.crossing)
                raise BrokerRejected(f"{text}; {note.text}" if note.text else text, lasting=lasting) from exc
            # Any other status (429, a proxy's 408, 409, 425, 5xx, a gateway's 504 included) says nothing about
            # whether the order got through.
            failure = f"HTTP {status}: {error_message(body)}{limit_said(exc, self._api.waits.wall())}"
            waited = getattr(exc.response, "waited_out", None) is not None
            return self._settle_by_lookup(order, failure, exc, resend=waited and not second)
        except requests.RequestException as exc:
            # Timeout, reset connection, or a 2xx whose body is not JSON: the POST may have landed.
            return self._settle_by_lookup(order, transport_detail(exc, self.timeout_seconds), exc)
        except ValidationError as exc:
            # Accepted, in a shape alpaca-py's models refuse (a value of an enum it does not know yet): the order is
            # read back by name (AlpacaTrading.fetch). Not found, or not read, it is unknown: never sent twice.
            try:
                found = self._api.lookup(order.client_order_id)
            except LlmtradeError:
                found = None
            if found is None:
                raise OperationalError(
                    f"alpaca accepted order {_describe(order)} but answered in a shape alpaca-py cannot read "
                    f"({short(exc)}); a rerun will not send it twice (same client_order_id)"
                ) from exc
            placed = found
        return to_result(self._api.routed(placed))

    def find(self, client_order_id: str) -> OrderResult | None:
        # An order replaced outside llmtrade is as its latest replacement is (brokers/alpaca_chains.py).
        found = self._api.lookup(client_order_id)
        return None if found is None else chain_result(self._api.chain(found))

    def open_orders(self) -> list[BrokerOrder]:
        listed = self._api.orders("open", after=None)
        parents = leg_parents(listed)  # a spread's legs are canceled through it (risk/halt_cancels.py)
        singles = [o for o in single_orders(listed) if is_working(o)]
        # A replacement of an order of llmtrade's is that order, working (brokers/alpaca_chains.py).
        return folded_open(singles, [to_broker_order(o, parents.get(str(o.id), "")) for o in singles], self._api.by_id)

    def fills(self, since: datetime | None = None) -> list[Fill]:
        # GET /v2/orders filters by submission time, not fill time: an order sent before `since` may fill
        # after it (a DAY order queued over a weekend and a holiday), so the query reaches back further
        # than `since` and the fill time decides below.
        after = None if since is None else since - _SUBMITTED_BEFORE_FILL
        listed = single_orders(self._api.orders("all", after=after))
        # An order of llmtrade's replaced outside it fills through its replacements, as one fill (alpaca_chains.py).
        fills = folded_fills(listed, self.account_id, self._api.by_id)
        fills.sort(key=lambda f: f.filled_at)
        return [f for f in fills if since is None or f.filled_at >= since]

    def cancel(self, client_order_id: str) -> CancelAnswer | None:
        # The order working in its place (replaced outside llmtrade), a replace under way waited out: alpaca_cancel.py.
        return cancel_order(self._api, client_order_id)

    def is_shortable(self, symbol: str) -> bool:
        # lazy: alpaca-py is heavy; keeps CLI start-up fast
        from alpaca.common.exceptions import APIError

        def get(client: Any) -> Any:
            try:
                return client.get_asset(symbol)
            except APIError as exc:
                # An asset Alpaca does not know cannot be shorted; buying it fails at submit with Alpaca's reason.
                if exc.status_code == 404:
                    return None
                raise

        asset = self._api.fetch(f"asset {symbol}", get)
        if asset is None or not (asset.shortable and asset.easy_to_borrow and asset.tradable):
            # Alpaca opens shorts only in easy-to-borrow assets (a hard-to-borrow one needs a locate), and trades no
            # halted asset: such a short would only come back refused.
            return False
        if enum_value(asset.status) != "active":
            return False  # delisted: refused whatever the side
        # An account Alpaca will not let short (shorting_enabled false: under $2,000 equity, or set to no-shorting)
        # gets 403 "account is not allowed to short" for every short.
        account = self._api.fetch("the account", lambda client: client.get_account())
        return bool(account.shorting_enabled)

    # ----------------------------------------------------------------- internals

    def _refusal_note(self, status: int, body: str, order: Order) -> RefusalNote:
        """What the account says of Alpaca's refusal (brokers/alpaca_refusals.py)."""
        return refusal_note(
            status,
            body,
            order,
            open_orders=self.open_orders,
            holdings=lambda: _holdings(self.account({})),
            account=lambda: self._api.fetch("the account", lambda client: client.get_account()),
        )

    def _settle_by_lookup(
        self, order: Order, failure: str, cause: BaseException, *, resend: bool = False
    ) -> OrderResult | None:
        """After a submission that may or may not have landed: the order if Alpaca has it, else an error; None (send
        it again) instead when `resend` (a 429 whose wait has passed: the POST was turned away, not lost)."""
        try:
            found = self._api.lookup(order.client_order_id)
        except LlmtradeError as lookup_error:
            kind = BrokerUnavailable if isinstance(lookup_error, TemporaryError) else OperationalError
            raise kind(
                f"alpaca did not confirm order {_describe(order)} ({failure}) and looking it up failed too "
                f"({lookup_error}): whether alpaca received it is unknown. A rerun looks it up again and sends "
                "it only if alpaca never got it (same client_order_id, so never twice)."
            ) from cause
        if found is None and resend:
            return None
        if found is None:
            raise BrokerUnavailable(
                f"alpaca did not receive order {_describe(order)} ({failure}); a lookup by client_order_id "
                "found nothing. A rerun will send it again with the same client_order_id."
            ) from cause
        return self._same_order(order, found)

    def _already_known(self, order: Order) -> OrderResult:
        """Alpaca refused a duplicate client_order_id: the order it already holds is the answer."""
        found = self._api.lookup(order.client_order_id)
        if found is None:
            raise BrokerUnavailable(
                f"alpaca says client_order_id {order.client_order_id} is already used, yet a lookup by it found "
                "no order; try again later"
            )
        return self._same_order(order, found)

    def _same_order(self, order: Order, found: Any) -> OrderResult:
        """`found` as our result: the id is llmtrade's own, unique, so with the symbol and side it names this order,
        its qty perhaps scaled by a split since it was sent (brokers/alpaca_same.py), said in the result. Anything else
        is no refusal (Alpaca holds an order under this id and may fill it) but an error of the run, said."""
        side = enum_value(found.side)
        note = scaled_note(order, decimal(found.qty), found.submitted_at, self._splits())
        if (found.symbol or "").upper() != order.symbol.upper() or side != order.side.value or note is None:
            raise OperationalError(
                f"client_order_id {order.client_order_id} already names an order at alpaca ({side} {found.qty} "
                f"{found.symbol}, id {found.id}, status {enum_value(found.status)}) that is not {order.side.value} "
                f"{order.qty} {order.symbol} and no split of {order.symbol} recorded since it was sent explains "
                "(llmtrade never sends an id again with another qty): it is not recorded refused, as alpaca holds it "
                "and may fill it. See it in Alpaca's dashboard (cancel it there if it is not wanted), then rerun"
            )
        result = chain_result(self._api.chain(found))
        return result.model_copy(update={"message": f"{result.message}; {note}"}) if note else result


def _holdings(account: AccountSnapshot) -> dict[str, float]:
    """The signed shares the account holds at Alpaca by symbol, a fraction of a share beyond the whole ones included
    (alone, under one share, it is no Position): what an order for want of shares met (alpaca_refusals.py)."""
    held = {symbol: float(p.qty) for symbol, p in account.positions.items()}
    for symbol, part in account.fractions.items():
        held[symbol] = held.get(symbol, 0.0) + part
    return held


def _host(url: str) -> str:
    # urlsplit finds a host only after "//"; a bare "api.alpaca.markets" must not slip through as a path.
    split = urlsplit(url if "//" in url else f"//{url}")
    return (split.hostname or "").rstrip(".")


def _describe(order: Order) -> str:
    return f"{order.client_order_id} ({order.side.value} {order.qty} {order.symbol})"


def _account_name(found: Any) -> str | None:
    """What names the account Alpaca answers for ("<id> <account_number>"), or None when it sends none. A reset from
    the dashboard gives the keys a new paper account: another id and number. Not its created_at, though a reset changes
    that too: its text is alpaca-py's rendering of a parsed time, which a new release may write otherwise, and every
    account would then look reset."""
    parts = [str(part) for part in (found.id, found.account_number) if part is not None]
    return " ".join(parts) or None
