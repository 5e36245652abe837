"""A fake Alpaca REST API on 127.0.0.1, for driving the real alpaca-py client in tests.

alpaca-py clients take `url_override=server.base_url` and append `/v2/...` themselves, so the trading
and the market data endpoints can share this one server: their paths never collide. Requests are
dispatched through a routing table of (method, path regex) -> handler: market data (GET /v2/stocks/bars)
and trading (account, positions, market orders, order lookup by client_order_id, assets).

Like Alpaca, it checks the APCA-API-KEY-ID / APCA-API-SECRET-KEY headers on every request and
paginates with opaque `next_page_token`s; the page size is small by default so that tests exercise
pagination without loading thousands of bars. Trading JSON is shaped for alpaca-py's strict models
(TradeAccount, Position, Order, Asset): money and quantities as strings, enums in Alpaca's spelling.
Orders are unique by client_order_id (a reuse is answered 422, code 40010001, as Alpaca does); with
`fill_immediately` (the market is open) a market order fills at once at the price given by `set_price`,
otherwise it is "accepted" and waits for `fill_open_orders`. As at Alpaca, a market DAY order of a fractionable asset
may be for a fraction of a share ("qty": "0.5") or for dollars ("notional": "500", "qty": null until it fills). A
DELETE cancels at once, or with `hold_cancels` leaves the order "pending_cancel" until `settle_cancels`. It uses
nothing outside the standard library.
"""

from __future__ import annotations

import base64
import json
import math
import re
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import MappingProxyType, TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from llmtrade.domain.market import Bar
from tests.fakes import alpaca_buying_power

NEW_YORK = ZoneInfo("America/New_York")
DEFAULT_KEY_ID = "fake-key-id"
DEFAULT_SECRET_KEY = "fake-secret-key"


class RecordedRequest(NamedTuple):
    """One request as received; a plain 4-tuple, so `method, path, query, headers = r` works too."""

    method: str
    path: str
    query: dict[str, str]  # the last value of each parameter, as Alpaca reads them
    headers: dict[str, str]


@dataclass(frozen=True)
class FakeRequest:
    """What a route handler gets: the recorded request, the path's regex match and the JSON body if any."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    match: re.Match[str]
    body: Any = None


class FakeResponse(NamedTuple):
    status: int
    body: Any
    headers: Mapping[str, str] = {}


@dataclass
class _RouteFailure:
    """A failure armed by `fail_route`: the next `times` matching requests are answered with `status`."""

    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    after_processing: bool
    delay_seconds: float


@dataclass
class _Holding:
    qty: float  # signed: negative is short; whole shares unless a fractional or notional order filled
    avg_entry_price: float
    signed_qty: bool = True  # False: a short is served with a positive qty and only side "short"
    served_qty: str | None = None  # the qty served instead of `qty` (a fraction: "10.5" after a 3-for-2 split of 7)


Handler = Callable[[FakeRequest], FakeResponse]


class _Server(ThreadingHTTPServer):
    """Threaded, so a delayed request does not hold up the next one; quiet about clients that hung up."""

    daemon_threads = True
    request_queue_size = 64
    fake: FakeAlpacaServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out closes its socket while we sleep; that is the test working, not a bug.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as Alpaca's own servers; requests reuses the connection

    def _dispatch(self) -> None:
        status, body, headers = self.server.fake._handle(
            self.command, self.path, dict(self.headers.items()), self._body()
        )
        self._send_json(status, body, headers)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header, as every answer carries it: the fake's clock (`wall`), which its rate limit reads too.
        return super().date_time_string(self.server.fake.wall() if timestamp is None else timestamp)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        # 204 No Content has no body at all, as Alpaca answers a successful cancel.
        payload = b"" if status == HTTPStatus.NO_CONTENT else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: test output is for assertions, not access logs."""


class FakeAlpacaServer:
    """Alpaca's REST API, the parts our code uses, on 127.0.0.1 from a background thread.

    Load bars with `add_bars`; set up the trading account with `set_account`, `set_price`, `set_position`
    and `add_asset`; make the next requests fail with `fail_next` (any route) or `fail_route` (one route,
    optionally after the request was processed) or stall with `delay_next`. Every request, even a refused
    one, is appended to `requests`; orders are kept in `orders`, keyed by client_order_id.
    """

    def __init__(
        self,
        *,
        key_id: str = DEFAULT_KEY_ID,
        secret_key: str = DEFAULT_SECRET_KEY,
        page_size: int = 50,
        port: int = 0,
        cash: float = 100_000.0,
        fill_immediately: bool = False,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.key_id = key_id
        self.secret_key = secret_key
        self.page_size = page_size
        self.port = port
        self.requests: list[RecordedRequest] = []
        self._bars: dict[str, dict[datetime, dict[str, Any]]] = {}
        self._failures: deque[int] = deque()
        self._delays: deque[float] = deque()
        self._route_failures: list[_RouteFailure] = []
        self._after: list[list[Any]] = []  # after_next: [method, pattern, action, times left]
        # Alpaca's rate limit: `rate_limit` requests a window, the window a minute from its first request. Every answer
        # says where the account stands (X-RateLimit-Limit, -Remaining, and -Reset: the window's end, in whole epoch
        # seconds), and a request over the limit is answered 429 until the window ends. `wall` is the fake's clock
        # for it (a test may step it instead of sleeping).
        self.rate_limit = 200
        self.wall: Callable[[], float] = time.time
        self._window: list[float] = []  # [end, requests counted in it]
        # Alpaca's free plan: a SIP bars request reaching into the 15 minutes before `wall` is refused (403). Any
        # request whose end precedes its start is refused (422) whatever the plan.
        self.free_plan = False
        # Daily bars Alpaca still revises after the close, (symbol, day) -> (the bar sent until then, the epoch second
        # on `wall` from which the final one, add_bars', is sent): its bars take in trades delivered late and are
        # recalculated after the fact (docs.alpaca.markets "updatedBars"; alpaca.markets/learn/stock-minute-bars:
        # trades reach it up to 10 s after execution, and the closing prints after the close).
        self.revised: dict[tuple[str, date], tuple[Mapping[str, Any], float]] = {}
        # Trading state. `fill_immediately` may be flipped by a test at any time: True is "the market is open".
        self.fill_immediately = fill_immediately
        # True (the market is open, as Alpaca has it): a market order is answered "pending_new", unfilled, and fills
        # at its symbol's price just before the next read of the account, positions or orders is served, a moment
        # after the POST; `fill_immediately` (the older mode) fills it inside the POST's answer instead.
        self.fill_after_post = False
        # A position's exchange, by symbol, where not ARCA: a venue Alpaca lists that alpaca-py's enum may not know yet
        # (alpacahq/alpaca-py #276: "ASCX"), which its models refuse.
        self.venues: dict[str, str] = {}
        # With it, how many reads such an order stays unfilled first: Alpaca's fill comes "a moment" after its answer,
        # which may be after the first lookup (an audit: a side change's close found unfilled held its leg back).
        self.routed_reads = 0
        # [client_order_id, reads left] of the orders to fill before a read (fill_after_post)
        self._due: list[list[Any]] = []
        # What names the account. A reset from the dashboard makes a new paper account for the same keys (Alpaca-API
        # issue #167: the old account is gone from the dashboard, the keys answer for the new one): a new id, a new
        # account_number and a created_at of the reset's time. Nothing else in the account object says it happened.
        self.account_uuid = str(uuid.uuid4())
        self._account_number = "PA3FAKE00001"
        self._created_at = "2025-01-02T15:00:00.000000Z"
        self._resets = 0
        self.orders: dict[str, dict[str, Any]] = {}  # Alpaca order JSON by client_order_id, in arrival order
        self._replacing: dict[str, str] = {}  # client_order_id -> its status before a replace left under way
        self._cash = float(cash)
        self._buying_power_over_cash = 0.0  # buying power moves with cash, at this distance from it
        self._equity: float | None = None  # None: cash plus positions at market
        self._prices: dict[str, float] = {}
        self._holdings: dict[str, _Holding] = {}
        self._time: datetime | None = None  # set_time: orders and fills stamped then, not now
        self._assets: dict[str, dict[str, Any]] = {}
        # The account object's flags as Alpaca sends them (`set_account_flags`): status, trading_blocked,
        # account_blocked, shorting_enabled (false on an account under $2,000 equity or marked no-shorting), ...
        self._flags: dict[str, Any] = {
            "status": "ACTIVE",
            "trading_blocked": False,
            "account_blocked": False,
            "shorting_enabled": True,
            "pattern_day_trader": False,
            "daytrade_count": 0,
        }
        # True: a DELETE finds its order just filled (at its symbol's price), as happens at Alpaca when the
        # fill wins the race between a client's lookup and its cancel.
        self.fill_before_cancel = False
        # True: a DELETE leaves its order "pending_cancel" (Alpaca forwards the cancel to the venue holding the order,
        # which outside market hours takes it only at the next open: seconds, minutes or until the open; some orders
        # stay so until they fill) until `settle_cancels` ends it; still open, listed by GET /v2/orders?status=open.
        self.hold_cancels = False
        # True: an order that could fill against an open order of the account on the other side of its symbol is
        # refused ("potential wash trade detected. use complex orders"), as Alpaca does; a pending_cancel order is
        # still open, so still in the way. Alpaca answers it 403 (code 40310000) in most reports, 422 (code 42210000) in
        # others (alpaca-java#145): `wash_trade_status` says which.
        self.refuse_wash_trades = True
        self.wash_trade_status: int = HTTPStatus.FORBIDDEN
        # Its words: the newer refusal's, or None for the older one's ("cannot open a short sell while a long buy order
        # is open", 403 code 40310000: alpacahq/alpaca-trade-api-python #396), which some accounts still get.
        self.wash_trade_words: str | None = "potential wash trade detected. use complex orders"
        # True: buying power as Alpaca checks it (tests/fakes/alpaca_buying_power.py): an order that opens or adds, a
        # short sell as much as a buy, is valued at 103% of its shares at the price against buying power less what the
        # account's open opening orders hold (GET /v2/account says so too); a queued sale frees none until it fills.
        # False: only a buy is checked, at its plain cost against cash and margin, whatever else is open.
        self.reserve_buying_power = False
        # Refusals armed by `refuse_next_order`, (status, code, message) each, the oldest first.
        self._order_refusals: list[tuple[int, int, str]] = []
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # The routing table: first match wins. New endpoints (GET /v2/account, POST /v2/orders, ...) are rows here.
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.route("GET", r"/v2/stocks/bars", self._stock_bars)
        self.route("GET", r"/v2/account", self._account)
        self.route("GET", r"/v2/positions", self._positions)
        self.route("POST", r"/v2/orders", self._submit_order)
        self.route("GET", r"/v2/orders:by_client_order_id", self._order_by_client_id)
        self.route("GET", r"/v2/orders", self._list_orders)
        self.route("GET", r"/v2/orders/(?P<order_id>[^/]+)", self._order_by_id)
        self.route("DELETE", r"/v2/orders/(?P<order_id>[^/]+)", self._cancel_order)
        self.route("PATCH", r"/v2/orders/(?P<order_id>[^/]+)", self._patch_order)
        self.route("GET", r"/v2/assets", self._assets_list)
        self.route("GET", r"/v2/assets/(?P<symbol>[^/]+)", self._asset)

    # ----------------------------------------------------------------- lifecycle

    @property
    def base_url(self) -> str:
        """What alpaca-py clients take as `url_override` (no `/v2`); the real port even when bound to 0."""
        if self._server is None:
            raise RuntimeError("the fake Alpaca server is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FakeAlpacaServer:
        if self._server is not None:
            raise RuntimeError("the fake Alpaca server is already running")
        self._server = _Server(("127.0.0.1", self.port), _Handler)
        self._server.fake = self
        # A short poll interval keeps stop() fast; the loop wakes this often to check for shutdown.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-alpaca", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests; a request still sleeping in `delay_next` ends on its own daemon thread."""
        if self._server is None or self._thread is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> FakeAlpacaServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # ----------------------------------------------------------------- test controls

    def route(self, method: str, path_pattern: str, handler: Handler, *, first: bool = False) -> None:
        """Serve `method` on paths fully matching `path_pattern` (named groups reach the handler's `match`);
        `first`: ahead of the built-in routes, to answer an endpoint as the real service sometimes does."""
        with self._lock:
            self._routes.insert(0 if first else len(self._routes), (method.upper(), re.compile(path_pattern), handler))

    def add_bars(self, symbol: str, rows: Iterable[Mapping[str, Any] | Bar]) -> None:
        """Daily bars for `symbol`: Alpaca-shaped dicts ({"t", "o", "h", "l", "c", "v", ...}) or our `Bar`s.

        Dicts are served exactly as given (prices may be strings, fields may be missing), except that a
        `date` in "t" becomes that session's midnight in New York, as Alpaca stamps daily bars. A later
        bar with the same timestamp replaces the earlier one.
        """
        converted = [_alpaca_bar(row) for row in rows]
        try:
            keyed = [(_parse_instant(str(row["t"]), end_of_day=False), row) for row in converted]
        except _BadRequest as exc:
            raise ValueError(f"{symbol}: {exc.message}") from None
        with self._lock:
            self._bars.setdefault(symbol, {}).update(keyed)

    def fail_next(self, status: int, times: int = 1) -> None:
        """Answer the next `times` requests with `status` and an Alpaca-style {"message": ...} body."""
        with self._lock:
            self._failures.extend([status] * times)

    def refuse_next_order(self, status: int, code: int, message: str, *, times: int = 1) -> None:
        """Refuse the next `times` order POSTs (a duplicate client_order_id still refused as such first) with `status`
        and Alpaca's error body {"code": `code`, "message": `message`}: a refusal the fake has no rule of its own for
        (one whose words llmtrade does not know, a passing one). Nothing of the order is stored."""
        with self._lock:
            self._order_refusals.extend([(status, code, message)] * times)

    def fail_route(
        self,
        method: str,
        path_pattern: str,
        status: int,
        *,
        times: int = 1,
        after_processing: bool = False,
        delay_seconds: float = 0.0,
    ) -> None:
        """Answer the next `times` requests to `method` + `path_pattern` (full match) with `status`.

        With `after_processing`, the request is first served as usual (an order is stored, filled, booked)
        and only the answer is replaced: a gateway's 504 after Alpaca accepted the order. `delay_seconds`
        sleeps before answering (after processing, if so), to make a client time out instead.
        """
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._route_failures.append(
                _RouteFailure(method.upper(), re.compile(path_pattern), status, times, after_processing, delay_seconds)
            )

    def after_next(self, method: str, path_pattern: str, action: Callable[[], object], *, times: int = 1) -> None:
        """Run `action` (e.g. `fill_open_orders`) right after each of the next `times` requests to `method` +
        `path_pattern` (full match) is served, before its answer goes back: the market moving between two of a
        client's reads (an order filling just after GET /v2/positions answered), as it does at Alpaca."""
        if times < 1:
            raise ValueError("times must be at least 1")
        with self._lock:
            self._after.append([method.upper(), re.compile(path_pattern), action, times])

    def use_up_rate_limit(self, seconds: float) -> None:
        """The account's requests for the window used up now, by someone else, in a window that ends `seconds` from
        now (on `wall`): every request before then is answered 429, as Alpaca answers it."""
        with self._lock:
            self._window = [self.wall() + seconds, float(self.rate_limit)]

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Sleep `seconds` before answering each of the next `times` requests, to exercise client timeouts."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def reset(self) -> None:
        """Forget recorded requests and pending failures and delays; bars, account, orders and positions stay."""
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self._delays.clear()
            self._route_failures.clear()
            self._order_refusals.clear()

    def count(self, method: str, path: str) -> int:
        """How many `method` requests to exactly `path` arrived (refused ones included)."""
        with self._lock:
            return sum(1 for request in self.requests if request.method == method.upper() and request.path == path)

    def set_account(
        self, *, cash: float | None = None, buying_power: float | None = None, equity: float | None = None
    ) -> None:
        """Cash, buying power (else equal to cash; then it moves with cash) and a fixed equity (else computed)."""
        with self._lock:
            if cash is not None:
                self._cash = float(cash)
            if buying_power is not None:
                self._buying_power_over_cash = float(buying_power) - self._cash
            if equity is not None:
                self._equity = float(equity)

    def set_account_flags(self, **flags: Any) -> None:
        """Set the account object's flags (status, trading_blocked, account_blocked, shorting_enabled,
        pattern_day_trader, daytrade_count); orders are answered as Alpaca answers them under these flags."""
        with self._lock:
            unknown = set(flags) - set(self._flags)
            if unknown:
                raise ValueError(f"unknown account flags {sorted(unknown)}")
            self._flags.update(flags)

    def reset_paper_account(self, balance: float) -> None:
        """The user resets the paper account from Alpaca's dashboard: every position and order (history included)
        is gone, and cash, equity and buying power start again at `balance`; the keys stay valid and now name a new
        account (a new id and account_number, created now)."""
        with self._lock:
            self._resets += 1
            self._account_number = f"PA3FAKE{self._resets + 1:05d}"
            self._created_at = self._now()
            self._holdings.clear()
            self.orders.clear()
            self._due.clear()
            self._cash = float(balance)
            self._buying_power_over_cash = 0.0
            self._equity = None
            self.account_uuid = str(uuid.uuid4())

    def set_time(self, at: datetime | None) -> None:
        """Stamp orders and fills from now on at `at` (None: the wall clock again), as a test's clock has it."""
        with self._lock:
            self._time = at

    def _now(self) -> str:
        return _order_stamp(self._time or datetime.now(UTC))

    def split(self, symbol: str, ratio: float) -> None:
        """Apply a split as Alpaca does before the ex-day's open: the position's shares times `ratio` at its average
        entry price divided by it (whole shares kept here, a fraction paid in cash at the new average), and each open
        order's quantity times `ratio`, its prices left as they were (alpacahq/alpaca-py#469), the price divided."""
        with self._lock:
            held = self._holdings.get(symbol)
            if held is not None:
                scaled = held.qty * ratio
                whole = int(scaled)
                self._cash += (scaled - whole) * held.avg_entry_price / ratio
                self._holdings[symbol] = _Holding(whole, held.avg_entry_price / ratio, held.signed_qty)
            for order in self.orders.values():
                if order["symbol"] == symbol and order["status"] not in _CLOSED_STATUSES:  # any open one, as Alpaca
                    order["qty"] = str(int(float(order["qty"] or 0) * ratio))
            if symbol in self._prices:
                self._prices[symbol] /= ratio

    def set_price(self, symbol: str, price: float) -> None:
        """The market price of `symbol`: fills, buying power checks and position values use it."""
        if price <= 0:
            raise ValueError("price must be positive")
        with self._lock:
            self._prices[symbol] = float(price)

    def set_position(
        self, symbol: str, qty: int, avg_entry_price: float, *, signed_qty: bool = True, served_qty: str | None = None
    ) -> None:
        """Hold `qty` shares (negative: short). `signed_qty=False` serves a short's qty as a positive number;
        `served_qty` serves that qty instead (a fractional "10.5"; trades book `qty`, the whole shares)."""
        with self._lock:
            if qty == 0:
                self._holdings.pop(symbol, None)
            else:
                self._holdings[symbol] = _Holding(qty, float(avg_entry_price), signed_qty, served_qty)

    def add_asset(
        self,
        symbol: str,
        *,
        shortable: bool = False,
        tradable: bool = True,
        status: str = "active",
        name: str | None = None,
        fractionable: bool = True,
        easy_to_borrow: bool | None = None,
        exchange: str = "ARCA",
    ) -> None:
        """Make `symbol` a known asset; symbols with a price from `set_price` are known (not shortable) anyway.

        `name` "" is an asset Alpaca lists without a name (it does, for some); `easy_to_borrow` defaults
        to `shortable`."""
        with self._lock:
            self._assets[symbol] = {
                "shortable": shortable,
                "tradable": tradable,
                "status": status,
                "name": f"{symbol} (fake)" if name is None else name,
                "fractionable": fractionable,
                "easy_to_borrow": shortable if easy_to_borrow is None else easy_to_borrow,
                "exchange": exchange,
            }

    def add_multi_leg_order(
        self, legs: Sequence[tuple[str, str, int]], *, qty: int = 1, filled: Mapping[str, float] | None = None
    ) -> str:
        """A multi-leg options order (order_class "mleg": a spread) as a person places it in Alpaca's web page, which
        paper accounts allow: `legs` are (option symbol, side, ratio). Alpaca writes the order with no symbol and no
        side of its own, `qty` times each leg's ratio in its `legs`. Open (accepted), or `filled` at each leg's price
        (by symbol). Returns its client_order_id."""
        with self._lock:
            now = self._now()
            parent = _order_json(str(uuid.uuid4()), None, None, qty, None, now)
            parent.update(order_class="mleg", asset_class="us_option", legs=[])
            for symbol, side, ratio in legs:
                leg = _order_json(str(uuid.uuid4()), symbol, side, qty * ratio, None, now)
                leg.update(order_class="mleg", asset_class="us_option", ratio_qty=str(ratio))
                parent["legs"].append(leg)
            if filled is not None:
                for order in [parent, *parent["legs"]]:
                    price = filled[order["symbol"]] if order["symbol"] else sum(filled.values())
                    order.update(status="filled", filled_qty=order["qty"], filled_avg_price=_number(price))
                    order.update(filled_at=now)
            self.orders[parent["client_order_id"]] = parent
            return parent["client_order_id"]

    def partially_fill(self, client_order_id: str, qty: int, price: float) -> None:
        """Fill `qty` shares of a working order at `price`: it stays open as "partially_filled"."""
        with self._lock:
            order = self.orders[client_order_id]
            if not 0 < qty < float(order["qty"]):
                raise ValueError("a partial fill is more than nothing and less than the order")
            self._fill(order, price, qty=qty)

    def end_order(self, client_order_id: str, status: str) -> None:
        """Alpaca ends a working order without filling the rest: "rejected" (at the open, buying power checked again),
        "expired" (a DAY order unfilled at the close) or "canceled" (by hand, a corporate action); stamped as Alpaca
        does (failed_at, expired_at, canceled_at) at the fake's time. What filled before stays filled."""
        stamp = {"rejected": "failed_at", "expired": "expired_at", "canceled": "canceled_at"}[status]
        with self._lock:
            order = self.orders[client_order_id]
            if order["status"] in _CLOSED_STATUSES:
                raise ValueError(f"order {client_order_id} has ended already ({order['status']})")
            now = self._now()
            order.update({"status": status, stamp: now, "updated_at": now})

    def done_for_day(self, client_order_id: str) -> None:
        """Alpaca is done executing a working order for the day ("done_for_day": it "will not receive further updates
        until the next trading day", docs.alpaca.markets order lifecycle): still open, listed by status=open and in
        the way of the account's other orders as any open one, but no open of the fake's fills it (`fill_open_orders`);
        a DAY order so ends expired (`end_order`), what filled before staying filled."""
        with self._lock:
            order = self.orders[client_order_id]
            if order["status"] in _CLOSED_STATUSES:
                raise ValueError(f"order {client_order_id} has ended already ({order['status']})")
            order.update(status="done_for_day", updated_at=self._now())

    def mark_routed(self, client_order_id: str) -> None:
        """The open came: a queued order ("accepted") is routed to the venue ("new") and works there, not filled yet (an
        illiquid symbol, a halt): the state in which a person may replace it."""
        with self._lock:
            order = self.orders[client_order_id]
            if order["status"] != "accepted":
                raise ValueError(f"order {client_order_id} is {order['status']}, not queued")
            order.update(status="new", updated_at=self._now())

    def replace_order(
        self,
        client_order_id: str,
        *,
        qty: int | None = None,
        new_client_order_id: str = "",
        named: bool = True,
        pending: bool = False,
    ) -> str:
        """A person replaces a working order (Alpaca's dashboard "edit", or PATCH /v2/orders/{id}) as Alpaca does it
        (https://docs.alpaca.markets/reference/patchorderbyorderid-1): the old order ends "replaced" with replaced_at
        and replaced_by (the new order's id); the new one is an order of its own (a new id, and a client_order_id of
        its own: generated unless one is given), with `replaces` the old id, the old order's other attributes, `qty`
        if given, else the old order's whole `qty` (not what is left after its fills), and none of the old order's fills
        (each order reports its own): a part filled order replaced so fills more than it was for, 4 + 10 of a sell of
        10 (alpacahq/Alpaca-API #165). Alpaca
        refuses to replace an order accepted (queued, not routed yet), pending_new, pending_cancel or pending_replace,
        or ended. Returns the new order's client_order_id. `named` False: Alpaca's own replacement for a market event
        such as a corporate action ("replaced ... or was updated due to a market event": its order status
        documentation), whose old order names no `replaced_by` (the new one still `replaces` it). `pending`: the replace
        is under way until `settle_replaces` (Alpaca's answer to the PATCH "does NOT guarantee the existing open order
        has been replaced": the old order is "pending_replace", still working at its venue, which "will reject cancel
        request while in this state"; the new one, `replaces` set, "pending_new" and not at the venue yet)."""
        with self._lock:
            old = self.orders[client_order_id]
            if old["status"] in _CLOSED_STATUSES or old["status"] in _NOT_REPLACEABLE:
                raise ValueError(f"order {client_order_id} cannot be replaced while {old['status']}")
            before = old["status"]
            new_cid = self._replace(old, qty, new_client_order_id)
            if not named:
                old["replaced_by"] = None
            if pending:
                old.update(status="pending_replace", replaced_by=None, replaced_at=None)
                self._replacing[client_order_id] = before
                self.orders[new_cid]["status"] = "pending_new"
            return new_cid

    def settle_replaces(self, *, filled: bool = False) -> list[str]:
        """The venue answers the replaces `replace_order(pending=True)` left under way: each old order ends "replaced"
        (replaced_by named) and its new order works ("new"); or (`filled`) the old order filled first at its symbol's
        price and the new one is rejected, as Alpaca does (https://docs.alpaca.markets/reference/patchorderbyorderid-1).
        Returns the old orders' client_order_ids."""
        with self._lock:
            settled = [cid for cid, order in self.orders.items() if order["status"] == "pending_replace"]
            for cid in settled:
                old = self.orders[cid]
                new = next(o for o in self.orders.values() if o["replaces"] == old["id"])
                now = self._now()
                if filled:
                    old["status"] = self._replacing.pop(cid)
                    self._fill(old, self._prices[old["symbol"]])
                    new.update(status="rejected", failed_at=now, updated_at=now)
                else:
                    self._replacing.pop(cid)
                    old.update(status="replaced", replaced_at=now, replaced_by=new["id"], updated_at=now)
                    new.update(status="new", updated_at=now)
            return settled

    def _replace(self, old: dict[str, Any], qty: int | None, new_client_order_id: str) -> str:
        """`replace_order`'s work (call under the lock)."""
        now = self._now()
        new_cid = new_client_order_id or str(uuid.uuid4())
        if new_cid in self.orders:
            raise _BadRequest("client_order_id must be unique", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001)
        new = _order_json(new_cid, old["symbol"], old["side"], float(qty if qty is not None else old["qty"]), None, now)
        for kept in ("position_intent", "time_in_force", "extended_hours", "order_type", "type"):
            new[kept] = old[kept]
        new.update(status="new", replaces=old["id"])
        old.update(status="replaced", replaced_at=now, replaced_by=new["id"], updated_at=now)
        self.orders[new_cid] = new
        return new_cid

    def _patch_order(self, request: FakeRequest) -> FakeResponse:
        """PATCH /v2/orders/{order_id}: `replace_order` through the API; the new order is the answer."""
        order_id = request.match["order_id"]
        body = request.body if isinstance(request.body, dict) else {}
        with self._lock:
            old = next((o for o in self.orders.values() if o["id"] == order_id), None)
            if old is None:
                raise _BadRequest("order not found", HTTPStatus.NOT_FOUND, 40410000)
            if old["status"] in _CLOSED_STATUSES or old["status"] in _NOT_REPLACEABLE:
                raise _BadRequest(
                    f'order is in "{old["status"]}" state and cannot be replaced',
                    HTTPStatus.UNPROCESSABLE_ENTITY,
                    42210000,
                )
            qty = body.get("qty")
            new_cid = self._replace(old, None if qty is None else int(qty), body.get("client_order_id") or "")
            return FakeResponse(HTTPStatus.OK, dict(self.orders[new_cid]))

    def settle_cancels(self, *, filled: bool = False) -> list[str]:
        """The venue answers the cancels `hold_cancels` left pending: each order is canceled, or (`filled`) it filled
        first at its symbol's price, as one that could not be canceled does. Returns their client_order_ids."""
        with self._lock:
            settled = [cid for cid, order in self.orders.items() if order["status"] == "pending_cancel"]
            for cid in settled:
                order = self.orders[cid]
                if filled:
                    self._fill(order, self._prices[order["symbol"]])
                else:
                    now = self._now()
                    order.update(status="canceled", canceled_at=now, updated_at=now)
            return settled

    def fill_open_orders(self) -> list[str]:
        """The market opens: every accepted order fills at its symbol's price; returns their client_order_ids."""
        with self._lock:
            filled = []
            for client_order_id, order in self.orders.items():
                if order["order_class"] == "mleg":
                    continue  # an options spread by hand: no price of the fake's fills it
                if order["status"] in ("accepted", "new", "pending_new", "partially_filled"):
                    if order["replaces"] is not None and self._pending_replace(order["replaces"]):
                        continue  # a replacement not at the venue yet: the order it replaces works there still
                    price = self._prices.get(order["symbol"])
                    if price is None:
                        raise ValueError(f"no price for {order['symbol']}: call set_price first")
                    self._fill(order, price)
                    filled.append(client_order_id)
            return filled

    def _pending_replace(self, order_id: str) -> bool:
        """Whether the order with id `order_id` is being replaced (call under the lock)."""
        return any(o["id"] == order_id and o["status"] == "pending_replace" for o in self.orders.values())

    # ----------------------------------------------------------------- dispatch

    def _handle(self, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> FakeResponse:
        limited, told = self._count_request()
        if limited:
            split = urlsplit(target)
            query = {name: values[-1] for name, values in parse_qs(split.query, keep_blank_values=True).items()}
            with self._lock:
                self.requests.append(RecordedRequest(method, split.path, query, headers))
            return FakeResponse(HTTPStatus.TOO_MANY_REQUESTS, {"message": "too many requests."}, told)
        response = self._answer(method, target, headers, raw_body)
        if response.headers is _UNTOLD:  # an armed failure, a gateway's as much as Alpaca's: no rate-limit headers
            return response._replace(headers={})
        return response._replace(headers={**told, **response.headers})

    def _count_request(self) -> tuple[bool, dict[str, str]]:
        """This request counted in the rate limit's window: whether it is over the limit, and the headers Alpaca
        sends on every answer."""
        with self._lock:
            now = self.wall()
            if not self._window or now >= self._window[0]:
                self._window = [now + 60.0, 0.0]
            self._window[1] += 1
            end, used = self._window
        told = {
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.rate_limit - int(used))),
            "X-RateLimit-Reset": str(math.ceil(end)),
        }
        return used > self.rate_limit, told

    def _answer(self, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> FakeResponse:
        split = urlsplit(target)
        query = {name: values[-1] for name, values in parse_qs(split.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(RecordedRequest(method, split.path, query, headers))
            delay = self._delays.popleft() if self._delays else None
            failure = self._failures.popleft() if self._failures else None
            routes = list(self._routes)
            armed = self._take_route_failure(method, split.path) if failure is None else None
        if delay is not None:
            time.sleep(delay)
        if failure is not None:
            return _failure(failure)
        if armed is not None and not armed.after_processing:
            time.sleep(armed.delay_seconds)
            return _failure(armed.status)
        if method == "GET" and split.path.startswith(("/v2/account", "/v2/positions", "/v2/orders")):
            self._fill_due()
        response = self._serve(method, split.path, query, headers, raw_body, routes)
        for action in self._take_after(method, split.path):
            action()
        if armed is not None:
            # The work is done (an order stored and booked); only the answer is lost on the way back.
            time.sleep(armed.delay_seconds)
            return _failure(armed.status)
        return response

    def _fill_due(self) -> None:
        """Fill the orders `fill_after_post` left to fill on the next read, at their symbols' prices."""
        with self._lock:
            due, self._due = self._due, []
            for client_order_id, left in due:
                if left > 0:
                    self._due.append([client_order_id, left - 1])
                    continue
                order = self.orders[client_order_id]
                if order["status"] not in _CLOSED_STATUSES:
                    self._fill(order, self._prices[order["symbol"]])

    def _take_after(self, method: str, path: str) -> list[Callable[[], object]]:
        """The `after_next` actions armed for this request, one use of each spent."""
        with self._lock:
            due = [armed for armed in self._after if armed[0] == method and armed[1].fullmatch(path)]
            for armed in due:
                armed[3] -= 1
                if armed[3] == 0:
                    self._after.remove(armed)
        return [armed[2] for armed in due]

    def _take_route_failure(self, method: str, path: str) -> _RouteFailure | None:
        """The first armed route failure matching this request, one use of it spent (call under the lock)."""
        for armed in self._route_failures:
            if armed.method == method and armed.pattern.fullmatch(path):
                armed.times -= 1
                if armed.times == 0:
                    self._route_failures.remove(armed)
                return armed
        return None

    def _serve(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        raw_body: bytes,
        routes: list[tuple[str, re.Pattern[str], Handler]],
    ) -> FakeResponse:
        # Header names are case-insensitive on the wire; compare them as such.
        lowered = {name.lower(): value for name, value in headers.items()}
        if lowered.get("apca-api-key-id") != self.key_id or lowered.get("apca-api-secret-key") != self.secret_key:
            return FakeResponse(HTTPStatus.UNAUTHORIZED, {"message": "forbidden"})
        for route_method, pattern, handler in routes:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                try:
                    body = json.loads(raw_body) if raw_body else None
                except ValueError:
                    return FakeResponse(HTTPStatus.BAD_REQUEST, {"message": "request body is not JSON"})
                request = FakeRequest(method, path, query, headers, match, body)
                try:
                    return handler(request)
                except _BadRequest as exc:
                    error: dict[str, Any] = {"message": exc.message}
                    if exc.code is not None:
                        error = {"code": exc.code, **error}
                    return FakeResponse(exc.status, error)
        return FakeResponse(HTTPStatus.NOT_FOUND, {"message": "endpoint not found"})

    # ----------------------------------------------------------------- market data

    def _stock_bars(self, request: FakeRequest) -> FakeResponse:
        """GET /v2/stocks/bars: bars of all requested symbols ordered by symbol then time, `limit` per page."""
        query = request.query
        symbols = [s for s in query.get("symbols", "").split(",") if s]
        if not symbols:
            raise _BadRequest("missing symbols")
        timeframe = query.get("timeframe")
        if timeframe not in ("1Day", "1D"):
            # Only daily bars are stored; answering other timeframes with them would hide a wrong request.
            raise _BadRequest(f"the fake serves only 1Day bars, not {timeframe!r}")
        start = _parse_instant(query["start"], end_of_day=False) if query.get("start") else None
        end = _parse_instant(query["end"], end_of_day=True) if query.get("end") else None
        if start is not None and end is not None and end < start:
            raise _BadRequest("end should not be before start", HTTPStatus.UNPROCESSABLE_ENTITY, 42210000)
        recent = datetime.fromtimestamp(self.wall(), UTC) - timedelta(minutes=15)
        if self.free_plan and query.get("feed") == "sip" and (end is None or end > recent):
            raise _BadRequest("subscription does not permit querying recent SIP data", HTTPStatus.FORBIDDEN)
        limit = _positive_int(query.get("limit"), "limit") or 1000  # Alpaca's default page size
        offset = _decode_token(query["page_token"]) if query.get("page_token") else 0
        with self._lock:
            matching = [
                (symbol, instant, row)
                for symbol in sorted(set(symbols))
                for instant, row in sorted(self._bars.get(symbol, {}).items(), key=lambda item: item[0])
                if (start is None or instant >= start) and (end is None or instant <= end)
            ]
        if query.get("sort") == "desc":  # newest first within each symbol; symbols stay in order
            matching.sort(key=lambda item: item[1], reverse=True)
            matching.sort(key=lambda item: item[0])
        page_length = min(limit, self.page_size)
        page = matching[offset : offset + page_length]
        bars: dict[str, list[dict[str, Any]]] = {}
        for symbol, instant, row in page:
            early, until = self.revised.get((symbol, instant.astimezone(NEW_YORK).date()), (row, 0.0))
            bars.setdefault(symbol, []).append(dict(early) if self.wall() < until else row)
        following = offset + len(page)
        token = _encode_token(following) if following < len(matching) else None
        return FakeResponse(HTTPStatus.OK, {"bars": bars, "next_page_token": token})

    # ----------------------------------------------------------------- trading

    def _account(self, request: FakeRequest) -> FakeResponse:
        """GET /v2/account: a paper margin account, money as strings, as TradeAccount reads it."""
        with self._lock:
            cash = self._cash
            long_value = sum(self._value(s, h) for s, h in self._holdings.items() if h.qty > 0)
            short_value = sum(self._value(s, h) for s, h in self._holdings.items() if h.qty < 0)
            equity = self._equity if self._equity is not None else cash + long_value + short_value
            buying_power = cash + self._buying_power_over_cash - self._reserved()
            flags = dict(self._flags)
        return FakeResponse(
            HTTPStatus.OK,
            {
                "id": self.account_uuid,
                "account_number": self._account_number,
                "status": flags["status"],
                "crypto_status": "ACTIVE",
                "currency": "USD",
                "buying_power": _number(buying_power),
                "regt_buying_power": _number(buying_power),
                "daytrading_buying_power": "0",
                "non_marginable_buying_power": _number(max(cash, 0.0)),
                "options_buying_power": _number(max(cash, 0.0)),
                "cash": _number(cash),
                "accrued_fees": "0",
                "pending_transfer_in": "0",
                "pending_transfer_out": "0",
                "portfolio_value": _number(equity),
                "pattern_day_trader": flags["pattern_day_trader"],
                "trading_blocked": flags["trading_blocked"],
                "transfers_blocked": False,
                "account_blocked": flags["account_blocked"],
                "created_at": self._created_at,
                "trade_suspended_by_user": False,
                "multiplier": "2",
                "shorting_enabled": flags["shorting_enabled"],
                "equity": _number(equity),
                "last_equity": _number(equity),
                "long_market_value": _number(long_value),
                "short_market_value": _number(short_value),
                "initial_margin": "0",
                "maintenance_margin": "0",
                "last_maintenance_margin": "0",
                "sma": "0",
                "daytrade_count": flags["daytrade_count"],
                "options_approved_level": 0,
                "options_trading_level": 0,
            },
        )

    def _positions(self, request: FakeRequest) -> FakeResponse:
        """GET /v2/positions: open positions; a short has side "short" and (by default) a negative qty."""
        with self._lock:
            rows = [self._position_json(symbol, holding) for symbol, holding in sorted(self._holdings.items())]
        return FakeResponse(HTTPStatus.OK, rows)

    def _submit_order(self, request: FakeRequest) -> FakeResponse:
        """POST /v2/orders: a market DAY order, unique by client_order_id; filled at once if the market is open."""
        body = request.body
        if not isinstance(body, dict):
            raise _BadRequest("request body must be a JSON object", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001)
        symbol = body.get("symbol")
        side = body.get("side")
        if not isinstance(symbol, str) or not symbol:
            raise _BadRequest("symbol is required", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001)
        if side not in ("buy", "sell"):
            raise _BadRequest(f"invalid side {side!r}", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001)
        if body.get("type") != "market":
            raise _BadRequest("the fake takes market orders only", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001)
        if body.get("time_in_force") not in ("day", "gtc", "opg", "cls", "ioc", "fok"):
            raise _BadRequest("invalid time_in_force", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001)
        if body.get("extended_hours") and body["type"] != "limit":
            # Alpaca trades outside the session only limit DAY orders (alpaca-java #77, 422 code 40010001).
            raise _BadRequest(
                'only type="limit" is allowed for extended hours orders', HTTPStatus.UNPROCESSABLE_ENTITY, 40010001
            )
        qty, notional = _order_size(body)
        client_order_id = body.get("client_order_id") or str(uuid.uuid4())
        with self._lock:
            if client_order_id in self.orders:
                raise _BadRequest("client_order_id must be unique", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001)
            if self._order_refusals:
                status, code, message = self._order_refusals.pop(0)
                raise _BadRequest(message, status, code)
            if notional is not None or not float(qty or 0).is_integer():
                # Alpaca's fractional trading: a fraction of a share or a dollar amount (notional), in a market DAY
                # order (sent at night, it waits for the open) of a fractionable asset.
                if body["time_in_force"] != "day":
                    raise _BadRequest("fractional orders must be DAY orders", HTTPStatus.UNPROCESSABLE_ENTITY, 42210000)
                if not self._assets.get(symbol, {}).get("fractionable", True):
                    raise _BadRequest(f"asset {symbol} is not fractionable", HTTPStatus.UNPROCESSABLE_ENTITY, 42210000)
            price = self._prices.get(symbol)
            buying_power = self._cash + self._buying_power_over_cash
            flags = self._flags
            if flags["trading_blocked"] or flags["account_blocked"] or flags["status"] != "ACTIVE":
                raise _BadRequest("account is not authorized to trade", HTTPStatus.FORBIDDEN, 40310000)
            held = self._holdings[symbol].qty if symbol in self._holdings else 0
            refusal = self._buying_power_refusal(side, qty, notional, price, held, buying_power)
            if refusal is not None:
                return FakeResponse(HTTPStatus.FORBIDDEN, refusal)
            if (held > 0 if side == "sell" else held < 0) and self._pdt_protected():
                # Alpaca's pattern day trading protection, simplified: the position is taken as opened today, so
                # closing it would be one day trade more than an account under 25,000 may make in 5 sessions.
                raise _BadRequest("trade denied due to pattern day trading protection", HTTPStatus.FORBIDDEN, 40310100)
            shares = qty if qty is not None else (notional or 0) / (price or math.inf)
            refusal = self._insufficient_qty(symbol, side, shares, held)
            if refusal is not None:
                return FakeResponse(HTTPStatus.FORBIDDEN, refusal)
            refusal = self._wash_trade(symbol, side)
            if refusal is not None:
                return FakeResponse(self.wash_trade_status, refusal)
            if side == "sell" and held <= 0 and (notional is not None or not float(qty or 0).is_integer()):
                # Alpaca shorts whole shares only (alpaca-trade-api-python #405; its status is not documented there).
                raise _BadRequest(
                    "fractional orders are not allowed to short", HTTPStatus.UNPROCESSABLE_ENTITY, 42210000
                )
            asset = self._assets.get(symbol, {})
            if asset.get("status", "active") != "active" or not asset.get("tradable", True):
                # A delisted or halted asset: Alpaca refuses the order whatever its side.
                raise _BadRequest(f"asset {symbol} is not tradable", HTTPStatus.UNPROCESSABLE_ENTITY, 42210000)
            if side == "sell" and shares > max(held, 0):
                if not self._flags["shorting_enabled"]:
                    raise _BadRequest("account is not allowed to short", HTTPStatus.FORBIDDEN, 40310000)
                # Alpaca opens shorts only in easy-to-borrow assets; a hard-to-borrow one needs a locate it does
                # not offer here.
                if not asset.get("shortable", False) or not asset.get("easy_to_borrow", False):
                    raise _BadRequest(
                        f'asset "{symbol}" cannot be sold short', HTTPStatus.UNPROCESSABLE_ENTITY, 42210000
                    )
            if self.fill_immediately and price is None:
                # A test set-up mistake, made loud: Alpaca would fill at the market, the fake needs a price.
                raise _BadRequest(f"fake: no price for {symbol}; call set_price", HTTPStatus.UNPROCESSABLE_ENTITY)
            now = self._now()
            order = _order_json(client_order_id, symbol, side, qty, notional, now)
            # Closing means trading against what is held: buying back a short, selling a long.
            order["position_intent"] = (
                f"{side}_to_close" if (held < 0 if side == "buy" else held > 0) else f"{side}_to_open"
            )
            order["time_in_force"] = body["time_in_force"]
            order["extended_hours"] = bool(body.get("extended_hours", False))
            if self.fill_immediately and price is not None:
                self._fill(order, price)
            elif self.fill_after_post and price is not None:
                order["status"] = "pending_new"  # routed, not filled yet: the next read finds it filled
                self._due.append([client_order_id, self.routed_reads])
            self.orders[client_order_id] = order
            return FakeResponse(HTTPStatus.OK, dict(order))

    def _buying_power_refusal(
        self, side: str, qty: float | None, notional: float | None, price: float | None, held: float, power: float
    ) -> dict[str, Any] | None:
        """Alpaca's 403 body for an order its buying power does not cover, else None (call under the lock): with
        `reserve_buying_power` as Alpaca checks it (tests/fakes/alpaca_buying_power.py), else a buy at its plain cost
        against `power` (cash and margin)."""
        if price is None:
            return None
        if not self.reserve_buying_power:
            cost = notional if notional is not None else (qty or 0) * price
            return alpaca_buying_power.refusal(power, cost) if side == "buy" and cost > power else None
        if not alpaca_buying_power.opens(side, held):
            return None  # a sale of a long or a buy to cover: checked for shares, not buying power
        cost = (
            notional * alpaca_buying_power.COLLAR
            if notional is not None
            else alpaca_buying_power.order_value(qty or 0, price)
        )
        available = power - self._reserved()
        return alpaca_buying_power.refusal(available, cost) if cost > available else None

    def _reserved(self) -> float:
        """The buying power the account's open orders that open or add hold, with `reserve_buying_power` (call under
        the lock); 0 without it."""
        if not self.reserve_buying_power:
            return 0.0
        working = [o for o in self.orders.values() if o["status"] not in _CLOSED_STATUSES]
        held = {symbol: holding.qty for symbol, holding in self._holdings.items()}
        return alpaca_buying_power.reserved(working, held, self._prices)

    def _pdt_protected(self) -> bool:
        """Whether the account is held to 3 day trades in 5 sessions and has made them (call under the lock)."""
        if self._flags["daytrade_count"] < 3:
            return False
        equity = self._equity
        if equity is None:
            equity = self._cash + sum(self._value(s, h) for s, h in self._holdings.items())
        return equity < 25_000

    def _insufficient_qty(self, symbol: str, side: str, qty: float, held: float) -> dict[str, Any] | None:
        """Alpaca's 403 for an order against a position (selling a long, buying back a short) that asks for
        more than is held minus what open orders on the same side already hold ("held_for_orders"): one
        order never crosses through zero, and a second close while the first is working is refused."""
        closing = held > 0 if side == "sell" else held < 0
        if not closing:
            return None
        working = [
            o
            for o in self.orders.values()
            if o["symbol"] == symbol and o["side"] == side and o["status"] not in _CLOSED_STATUSES
        ]
        held_for_orders = sum(self._shares(o) - float(o["filled_qty"]) for o in working)
        available = max(abs(held) - held_for_orders, 0)
        if qty <= available:
            return None
        return {
            "code": 40310000,
            "existing_qty": _qty_text(abs(held)),
            "held_for_orders": _qty_text(held_for_orders),
            "message": f"insufficient qty available for order (requested: {_qty_text(qty)}, "
            f"available: {_qty_text(available)})",
            "related_orders": [o["id"] for o in working],
            "symbol": symbol,
        }

    def _wash_trade(self, symbol: str, side: str) -> dict[str, Any] | None:
        """Alpaca's refusal (the body of `wash_trade_status`: 403 or 422) of an order that could fill against the
        account's own open order on the other side of the same symbol (a market order against any of them; one placed
        by hand in the dashboard included)."""
        other = "sell" if side == "buy" else "buy"
        if not self.refuse_wash_trades or not any(
            o["symbol"] == symbol and o["side"] == other and o["status"] not in _CLOSED_STATUSES
            for o in self.orders.values()
        ):
            return None
        code = 42210000 if self.wash_trade_status == HTTPStatus.UNPROCESSABLE_ENTITY else 40310000
        if self.wash_trade_words is None:
            opened = "short sell while a long buy" if side == "sell" else "long buy while a short sell"
            return {"code": 40310000, "message": f"cannot open a {opened} order is open"}
        return {"code": code, "message": self.wash_trade_words}

    def _order_by_client_id(self, request: FakeRequest) -> FakeResponse:
        """GET /v2/orders:by_client_order_id?client_order_id=...: the order, or 404 as Alpaca answers."""
        client_order_id = request.query.get("client_order_id")
        if not client_order_id:
            raise _BadRequest("client_order_id is required", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001)
        with self._lock:
            order = self.orders.get(client_order_id)
            if order is None:
                raise _BadRequest("order not found", HTTPStatus.NOT_FOUND, 40410000)
            return FakeResponse(HTTPStatus.OK, dict(order))

    def _order_by_id(self, request: FakeRequest) -> FakeResponse:
        """GET /v2/orders/{order_id}."""
        order_id = request.match["order_id"]
        with self._lock:
            for order in self.orders.values():
                if order["id"] == order_id:
                    return FakeResponse(HTTPStatus.OK, dict(order))
        raise _BadRequest("order not found", HTTPStatus.NOT_FOUND, 40410000)

    def _list_orders(self, request: FakeRequest) -> FakeResponse:
        """GET /v2/orders: Alpaca's list. `status` open (default) | closed | all; `limit` default 50, cut to 500
        without notice; `after`/`until` exclusive bounds on submission time; `direction` desc (default) | asc."""
        query = request.query
        status = query.get("status") or "open"
        if status not in ("open", "closed", "all"):
            raise _BadRequest(f"invalid status {status!r}", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001)
        direction = query.get("direction") or "desc"
        if direction not in ("asc", "desc"):
            raise _BadRequest(f"invalid direction {direction!r}", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001)
        limit = min(_positive_int(query.get("limit"), "limit") or 50, 500)
        after = _parse_instant(query["after"], end_of_day=False) if query.get("after") else None
        until = _parse_instant(query["until"], end_of_day=False) if query.get("until") else None
        with self._lock:
            chosen = [
                dict(order)
                for order in self.orders.values()
                if (status == "all" or (order["status"] in _CLOSED_STATUSES) == (status == "closed"))
                and (after is None or _instant(order["submitted_at"]) > after)
                and (until is None or _instant(order["submitted_at"]) < until)
            ]
        chosen.sort(key=lambda order: _instant(order["submitted_at"]), reverse=direction == "desc")
        return FakeResponse(HTTPStatus.OK, chosen[:limit])

    def _cancel_order(self, request: FakeRequest) -> FakeResponse:
        """DELETE /v2/orders/{order_id}: 204 with no body; 422 when the order is already filled or ended."""
        order_id = request.match["order_id"]
        with self._lock:
            order = next((o for o in self.orders.values() if o["id"] == order_id), None)
            legs = [leg["id"] for o in self.orders.values() for leg in o.get("legs") or []]
            if order is None and order_id in legs:
                # A multi-leg order is canceled as one, by its own id: a leg's id is refused, the spread left working.
                # (Alpaca's wording for this refusal is not documented; the status is its refusal of a cancel.)
                raise _BadRequest(
                    "cannot cancel a leg of a multi-leg order: cancel the multi-leg order",
                    HTTPStatus.UNPROCESSABLE_ENTITY,
                    42210000,
                )
            if order is None:
                raise _BadRequest("order not found", HTTPStatus.NOT_FOUND, 40410000)
            if order["status"] == "pending_replace":
                # Alpaca: an order being replaced "will reject cancel request while in this state" (its order status
                # documentation); refused as its other cancels are (422), in words of the fake's own.
                raise _BadRequest(
                    'order is in "pending_replace" state and cannot be canceled',
                    HTTPStatus.UNPROCESSABLE_ENTITY,
                    42210000,
                )
            if self.fill_before_cancel and order["status"] not in _CLOSED_STATUSES:
                self._fill(order, self._prices[order["symbol"]])
            if order["status"] in _CLOSED_STATUSES:
                raise _BadRequest(
                    f'order is already in "{order["status"]}" state', HTTPStatus.UNPROCESSABLE_ENTITY, 42210000
                )
            now = self._now()
            if self.hold_cancels or order["status"] == "pending_cancel":
                order.update(status="pending_cancel", updated_at=now)  # a cancel asked again is still the one cancel
            else:
                for one in [order, *(order.get("legs") or [])]:  # a spread's legs end with it
                    one.update(status="canceled", canceled_at=now, updated_at=now)
        return FakeResponse(HTTPStatus.NO_CONTENT, None)

    def _asset(self, request: FakeRequest) -> FakeResponse:
        """GET /v2/assets/{symbol}: a US equity; 404 for a symbol neither added nor priced."""
        symbol = request.match["symbol"]
        with self._lock:
            known = self._assets.get(symbol)
            if known is None and symbol not in self._prices:
                raise _BadRequest(f"asset not found for {symbol}", HTTPStatus.NOT_FOUND, 40410000)
        return FakeResponse(HTTPStatus.OK, _asset_json(symbol, known or {}))

    def _assets_list(self, request: FakeRequest) -> FakeResponse:
        """GET /v2/assets: one bare JSON array (no pagination) of every known asset, as Alpaca answers it:
        inactive assets too unless `status=active`; `asset_class` filters by class (all here are us_equity,
        Alpaca's default; ETFs carry no flag of their own); `exchange` filters by listing venue."""
        status = request.query.get("status")
        asset_class = request.query.get("asset_class", "us_equity")
        exchange = request.query.get("exchange")
        if status not in (None, "active", "inactive"):
            raise _BadRequest(f"invalid status {status}", HTTPStatus.UNPROCESSABLE_ENTITY, 42210000)
        with self._lock:
            known = {symbol: {} for symbol in self._prices} | dict(self._assets)
        rows = [_asset_json(symbol, traits) for symbol, traits in sorted(known.items())]
        rows = [
            r
            for r in rows
            if (status is None or r["status"] == status)
            and r["class"] == asset_class
            and (exchange is None or r["exchange"] == exchange)
        ]
        return FakeResponse(HTTPStatus.OK, rows)

    def _value(self, symbol: str, holding: _Holding) -> float:
        """A holding's market value, signed (call under the lock): an option contract is 100 shares' worth of its
        price, as Alpaca values it."""
        return holding.qty * self._mark(symbol, holding) * _multiplier(symbol)

    def _mark(self, symbol: str, holding: _Holding) -> float:
        """The price a holding is valued at: the set market price, else what was paid (call under the lock)."""
        return self._prices.get(symbol, holding.avg_entry_price)

    def _position_json(self, symbol: str, holding: _Holding) -> dict[str, Any]:
        """One position as Alpaca sends it (call under the lock)."""
        mark = self._mark(symbol, holding)
        market_value = self._value(symbol, holding)
        cost_basis = holding.qty * holding.avg_entry_price * _multiplier(symbol)
        unrealized = market_value - cost_basis
        shown_qty = _qty_text(holding.qty if holding.signed_qty else abs(holding.qty))
        if holding.served_qty is not None:
            shown_qty = holding.served_qty
        return {
            "asset_id": _asset_id(symbol),
            "symbol": symbol,
            "exchange": self.venues.get(symbol, "ARCA"),
            "asset_class": "us_option" if _OPTION.fullmatch(symbol) else "us_equity",
            "asset_marginable": True,
            "qty": str(shown_qty),
            "qty_available": self._qty_available(symbol, holding, str(shown_qty)),
            "avg_entry_price": _number(holding.avg_entry_price),
            "side": "long" if holding.qty > 0 else "short",
            "market_value": _number(market_value),
            "cost_basis": _number(cost_basis),
            "unrealized_pl": _number(unrealized),
            "unrealized_plpc": _number(unrealized / abs(cost_basis)) if cost_basis else "0",
            "unrealized_intraday_pl": "0",
            "unrealized_intraday_plpc": "0",
            "current_price": _number(mark),
            "lastday_price": _number(mark),
            "change_today": "0",
        }

    def _qty_available(self, symbol: str, holding: _Holding, shown: str) -> str:
        """A position's qty_available as Alpaca sends it (call under the lock): its qty less the shares the account's
        open orders that close it hold for themselves ("held_for_orders"), so less than qty while a close works."""
        if holding.served_qty is not None:
            return shown
        closing = "sell" if holding.qty > 0 else "buy"
        held = sum(
            self._shares(o) - float(o["filled_qty"])
            for o in self.orders.values()
            if o["symbol"] == symbol and o["side"] == closing and o["status"] not in _CLOSED_STATUSES
        )
        left = max(abs(holding.qty) - held, 0.0)
        return _qty_text(left if holding.qty > 0 or not holding.signed_qty else -left)

    def _shares(self, order: dict[str, Any], price: float | None = None) -> float:
        """The shares `order` is for: its qty, or (a notional order) its amount at `price`, else at its symbol's price
        (call under the lock)."""
        if order["qty"] is not None:
            return float(order["qty"])
        at = price or self._prices.get(order["symbol"])
        return round(float(order["notional"]) / at, 9) if at else 0.0

    def _fill(self, order: dict[str, Any], price: float, *, qty: float | None = None) -> None:
        """Fill `qty` more shares of `order` (default: all that remain) at `price`, booking cash and the
        position (call under the lock). Like Alpaca, `filled_at` is stamped only once the order is complete,
        and `filled_avg_price` is the average over every share filled so far."""
        before_qty = float(order["filled_qty"])
        ordered = self._shares(order, price)
        qty = ordered - before_qty if qty is None else qty
        delta = qty if order["side"] == "buy" else -qty
        now = self._now()
        total = before_qty + qty
        before_avg = float(order["filled_avg_price"] or 0)
        average = (before_qty * before_avg + qty * price) / total
        complete = abs(total - ordered) < 1e-9
        order.update(
            status="filled" if complete else "partially_filled",
            filled_qty=_qty_text(total),
            filled_avg_price=_number(average),
            filled_at=now if complete else None,
            updated_at=now,
        )
        self._cash -= delta * price * _multiplier(order["symbol"])
        symbol = order["symbol"]
        before = self._holdings.get(symbol)
        old_qty = before.qty if before else 0
        new_qty = old_qty + delta
        if new_qty == 0:
            self._holdings.pop(symbol, None)
        elif before is None or old_qty * new_qty < 0:
            self._holdings[symbol] = _Holding(new_qty, price)  # opened, or flipped through zero
        elif abs(new_qty) > abs(old_qty):
            average = (old_qty * before.avg_entry_price + delta * price) / new_qty  # added to: weighted average
            self._holdings[symbol] = _Holding(new_qty, average, before.signed_qty)
        else:
            self._holdings[symbol] = _Holding(new_qty, before.avg_entry_price, before.signed_qty)  # reduced


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST, code: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code  # Alpaca's numeric error code, e.g. 40010001


def _failure(status: int) -> FakeResponse:
    return FakeResponse(status, {"message": f"fake failure: {HTTPStatus(status).phrase.lower()}"}, _UNTOLD)


# The headers of an armed failure (`fail_next`, `fail_route`): the rate limit's are not added to it, so a 429 armed
# so says no wait, and the client waits its own.
_UNTOLD: Mapping[str, str] = MappingProxyType({})


def _alpaca_bar(row: Mapping[str, Any] | Bar) -> dict[str, Any]:
    """A bar in Alpaca's JSON shape; `Bar`s get an invented trade count and VWAP, as Alpaca sends both."""
    if isinstance(row, Bar):
        return {
            "t": _stamp(row.day),
            "o": row.open,
            "h": row.high,
            "l": row.low,
            "c": row.close,
            "v": row.volume,
            "n": 1000,
            "vw": round((row.high + row.low + row.close) / 3, 4),
        }
    converted = dict(row)
    if "t" not in converted:
        raise ValueError(f"a fake Alpaca bar needs a timestamp 't': {converted!r}")
    if isinstance(converted["t"], date):
        converted["t"] = _stamp(converted["t"])
    return converted


def _stamp(day: date) -> str:
    """Alpaca's timestamp for the daily bar of session `day`: midnight New York, in UTC with a Z."""
    if isinstance(day, datetime):
        instant = day if day.utcoffset() is not None else day.replace(tzinfo=UTC)
    else:
        instant = datetime.combine(day, clock_time(0, 0), tzinfo=NEW_YORK)
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_instant(text: str, *, end_of_day: bool) -> datetime:
    """An RFC 3339 instant, or a bare date read as the start (or end) of that New York day."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end_of_day:
                return datetime.combine(day + timedelta(days=1), clock_time(0, 0), tzinfo=NEW_YORK) - timedelta(
                    microseconds=1
                )
            return datetime.combine(day, clock_time(0, 0), tzinfo=NEW_YORK)
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise _BadRequest(f"invalid timestamp {text!r}") from None
    return instant if instant.utcoffset() is not None else instant.replace(tzinfo=UTC)


def _positive_int(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    if not text.isdigit() or int(text) < 1:
        raise _BadRequest(f"invalid {name}: {text!r}")
    return int(text)


def _encode_token(offset: int) -> str:
    # Opaque to the client, like Alpaca's base64 tokens; it is an offset into the sorted result.
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def _decode_token(token: str) -> int:
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "offset" or not value.isdigit():
            raise ValueError(token)
        return int(value)
    except ValueError:
        raise _BadRequest(f"invalid page_token {token!r}") from None


def _order_json(
    client_order_id: str, symbol: str | None, side: str | None, qty: float | None, notional: float | None, now: str
) -> dict[str, Any]:
    """A market DAY order as Alpaca writes it, accepted (queued) and unfilled."""
    return {
        "id": str(uuid.uuid4()),
        "client_order_id": client_order_id,
        "created_at": now,
        "updated_at": now,
        "submitted_at": now,
        "filled_at": None,
        "expired_at": None,
        "expires_at": None,
        "canceled_at": None,
        "failed_at": None,
        "replaced_at": None,
        "replaced_by": None,
        "replaces": None,
        "asset_id": _asset_id(symbol) if symbol else None,
        "symbol": symbol,
        "asset_class": "us_equity",
        # A notional order has no qty until it fills, as Alpaca writes it (its shares: the amount at the fill).
        "notional": None if notional is None else _number(notional),
        "qty": None if qty is None else _qty_text(qty),
        "filled_qty": "0",
        "filled_avg_price": None,
        "order_class": "",  # Alpaca sends "" for simple orders; alpaca-py reads it as "simple"
        "order_type": "market",
        "type": "market",
        "side": side,
        "position_intent": f"{side}_to_open" if side else None,
        "time_in_force": "day",
        "limit_price": None,
        "stop_price": None,
        "status": "accepted",
        "extended_hours": False,
        "legs": None,
        "trail_percent": None,
        "trail_price": None,
        "hwm": None,
        "source": None,
        "subtag": None,
    }


# An OCC option symbol (root, expiry YYMMDD, C or P, strike times 1000 in 8 digits), as Alpaca names contracts.
_OPTION = re.compile(r"[A-Z]{1,6}\d{6}[CP]\d{8}")


def _multiplier(symbol: str) -> int:
    """Shares per unit of `symbol`: 100 for an option contract, 1 for a share."""
    return 100 if _OPTION.fullmatch(symbol) else 1


def _order_size(body: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """An order's (qty, notional) from JSON, exactly one of them given and positive (alpaca-py sends numbers, e.g.
    5.0; Alpaca also takes "5"): a qty may be a fraction of a share, a notional is a dollar amount (fractional trading,
    up to 9 decimals)."""
    qty, notional = body.get("qty"), body.get("notional")
    if (qty is None) == (notional is None):
        raise _BadRequest("one of qty or notional is required", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001)
    name, value = ("qty", qty) if qty is not None else ("notional", notional)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _BadRequest(f"invalid {name} {value!r}", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001) from None
    if not number > 0 or not math.isfinite(number):
        raise _BadRequest(f"{name} must be positive, got {value!r}", HTTPStatus.UNPROCESSABLE_ENTITY, 40010001)
    return (number, None) if name == "qty" else (None, number)


def _qty_text(value: float) -> str:
    """A share count as Alpaca writes it: a string, whole shares without a point ("10", "-10"), else up to 9
    decimals ("0.5")."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.9f}".rstrip("0").rstrip(".")


def _number(value: float) -> str:
    """Money as Alpaca sends it: a string, no exponent, no trailing zeros ("100000", "-1012.5")."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _asset_json(symbol: str, traits: Mapping[str, Any]) -> dict[str, Any]:
    """An asset as Alpaca's assets API writes it; `traits` from add_asset (defaults: a priced, unshortable ETF)."""
    shortable = traits.get("shortable", False)
    return {
        "id": _asset_id(symbol),
        "class": "us_equity",
        "exchange": traits.get("exchange", "ARCA"),
        "symbol": symbol,
        "name": traits.get("name", f"{symbol} (fake)"),
        "status": traits.get("status", "active"),
        "tradable": traits.get("tradable", True),
        "marginable": True,
        "maintenance_margin_requirement": 30,
        "shortable": shortable,
        "easy_to_borrow": traits.get("easy_to_borrow", shortable),
        "fractionable": traits.get("fractionable", True),
        "attributes": [],
    }


def _asset_id(symbol: str) -> str:
    # Stable per symbol, as Alpaca's asset ids are.
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake-alpaca-asset:{symbol}"))


# Statuses GET /v2/orders?status=closed lists; every other status is open.
_CLOSED_STATUSES = frozenset({"filled", "canceled", "expired", "rejected", "replaced"})
# Alpaca replaces no order in these (https://docs.alpaca.markets/reference/patchorderbyorderid-1): one queued outside
# market hours ("accepted") cannot be replaced until it is routed at the open.
_NOT_REPLACEABLE = frozenset({"accepted", "pending_new", "pending_cancel", "pending_replace"})


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _order_stamp(at: datetime) -> str:
    """An order's or a fill's timestamp as Alpaca writes it: UTC, microseconds, a Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Wall:
    """The fake Alpaca's clock and the provider's, one value: a wait is spent by stepping it, not by sleeping."""

    def __init__(self) -> None:
        self.now = time.time()
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
