"""A fake Alpaca REST API on 127.0.0.1, for driving the real alpaca-py client in tests.

alpaca-py clients take `url_override=server.base_url` and append `/v2/...` themselves, so the trading
and the market data endpoints can share this one server: their paths never collide. Requests are
dispatched through a routing table of (method, path regex) -> handler; today it serves market data
(GET /v2/stocks/bars), and accounts, orders and positions slot in as more rows of the same table.

Like Alpaca, it checks the APCA-API-KEY-ID / APCA-API-SECRET-KEY headers on every request and
paginates with opaque `next_page_token`s; the page size is small by default so that tests exercise
pagination without loading thousands of bars. It uses nothing outside the standard library.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from llmtrade.domain.market import Bar

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
        status, body = self.server.fake._handle(self.command, self.path, dict(self.headers.items()), self._body())
        self._send_json(status, body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _dispatch

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, body: Any) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: test output is for assertions, not access logs."""


class FakeAlpacaServer:
    """Alpaca's REST API, the parts our code uses, on 127.0.0.1 from a background thread.

    Load bars with `add_bars`; make the next requests fail with `fail_next` or stall with `delay_next`.
    Every request, even a refused one, is appended to `requests`.
    """

    def __init__(
        self,
        *,
        key_id: str = DEFAULT_KEY_ID,
        secret_key: str = DEFAULT_SECRET_KEY,
        page_size: int = 50,
        port: int = 0,
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
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # The routing table: first match wins. New endpoints (GET /v2/account, POST /v2/orders, ...) are rows here.
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.route("GET", r"/v2/stocks/bars", self._stock_bars)

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

    def route(self, method: str, path_pattern: str, handler: Handler) -> None:
        """Serve `method` on paths fully matching `path_pattern` (named groups reach the handler's `match`)."""
        with self._lock:
            self._routes.append((method.upper(), re.compile(path_pattern), handler))

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

    def delay_next(self, seconds: float, times: int = 1) -> None:
        """Sleep `seconds` before answering each of the next `times` requests, to exercise client timeouts."""
        with self._lock:
            self._delays.extend([seconds] * times)

    def reset(self) -> None:
        """Forget recorded requests and pending failures and delays; loaded bars stay."""
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self._delays.clear()

    # ----------------------------------------------------------------- dispatch

    def _handle(self, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> FakeResponse:
        split = urlsplit(target)
        query = {name: values[-1] for name, values in parse_qs(split.query, keep_blank_values=True).items()}
        with self._lock:
            self.requests.append(RecordedRequest(method, split.path, query, headers))
            delay = self._delays.popleft() if self._delays else None
            failure = self._failures.popleft() if self._failures else None
            routes = list(self._routes)
        if delay is not None:
            time.sleep(delay)
        if failure is not None:
            return FakeResponse(failure, {"message": f"fake failure: {HTTPStatus(failure).phrase.lower()}"})
        # Header names are case-insensitive on the wire; compare them as such.
        lowered = {name.lower(): value for name, value in headers.items()}
        if lowered.get("apca-api-key-id") != self.key_id or lowered.get("apca-api-secret-key") != self.secret_key:
            return FakeResponse(HTTPStatus.UNAUTHORIZED, {"message": "forbidden"})
        for route_method, pattern, handler in routes:
            match = pattern.fullmatch(split.path)
            if match and route_method == method:
                try:
                    body = json.loads(raw_body) if raw_body else None
                except ValueError:
                    return FakeResponse(HTTPStatus.BAD_REQUEST, {"message": "request body is not JSON"})
                request = FakeRequest(method, split.path, query, headers, match, body)
                try:
                    return handler(request)
                except _BadRequest as exc:
                    return FakeResponse(exc.status, {"message": exc.message})
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
        for symbol, _instant, row in page:
            bars.setdefault(symbol, []).append(row)
        following = offset + len(page)
        token = _encode_token(following) if following < len(matching) else None
        return FakeResponse(HTTPStatus.OK, {"bars": bars, "next_page_token": token})


class _BadRequest(Exception):
    def __init__(self, message: str, status: int = HTTPStatus.BAD_REQUEST):
        super().__init__(message)
        self.message = message
        self.status = status


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
