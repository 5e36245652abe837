"""What every alpaca-py client of ours needs on the wire: a timeout, our retry policy, readable errors.

alpaca-py speaks `requests`, passes no timeout at all and retries 429/504 on its own for every call,
order submission included. The market data provider widens those retries (a bars GET is an
idempotent read) and waits out a 429 as long as Alpaca says (alpaca_limits.py); the broker turns
them off (a resent order is resolved by lookup, never by a blind second POST). Both go through the
helpers here, so the two clients cannot drift apart.

Nothing here imports requests or alpaca-py at module level: importing it must stay cheap.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Self, TypeVar

from llmtrade.clock import Clock, SystemClock
from llmtrade.config_errors import ConfigError
from llmtrade.errors import MarketDataError, MarketDataUnavailable
from llmtrade.market.alpaca_limits import RateLimitWaits, WaitAllowance, reset_said, waits_out_rate_limits
from llmtrade.market.failures import wire_reason

if TYPE_CHECKING:
    from requests import Session


P = TypeVar("P")

# Statuses alpaca-py's own loop retries on a market-data read: a GET of bars or prices is idempotent, so widening its
# 504 to the other 5xx. A 429 is waited out as Alpaca says instead, by the session's adapter (alpaca_limits.py).
DATA_RETRY_STATUSES = (500, 502, 503, 504)


class DataAccess:
    """What the daily-bar and the latest-price providers hold alike: the keys (never shown), the feed, the endpoint,
    the timeout and alpaca-py's retries, checked once, and the data client built from them (`data_client`)."""

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        feed: str = "iex",
        url_override: str | None = None,
        timeout_seconds: float = 15.0,
        retry_attempts: int = 3,
        retry_wait_seconds: float = 3.0,
        waits: RateLimitWaits | None = None,
        clock: Clock | None = None,
    ):
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        if retry_attempts < 0 or retry_wait_seconds < 0:
            raise ValueError("retry_attempts and retry_wait_seconds must not be negative")
        self._api_key = api_key
        self._secret_key = secret_key
        self.feed = feed
        self.url_override = url_override
        self.timeout_seconds = timeout_seconds
        # alpaca-py's defaults are 3 retries, 3 s apart; tests lower both so a retry drill takes milliseconds.
        self.retry_attempts = retry_attempts
        self.retry_wait_seconds = retry_wait_seconds
        # How long a 429 is waited out (alpaca_limits.py): within a sane most, and the job's deadline when given.
        self.waits = waits or RateLimitWaits()
        # The command's "now" (LLMTRADE_NOW's instant when it is set): the SIP feed's cut is never after it, nor
        # within the free plan's 15 minutes of the real clock (alpaca_data.py `_fetch`).
        self.clock = clock or SystemClock()

    def __repr__(self) -> str:
        # Never show the keys, not even in a traceback's locals.
        return f"{type(self).__name__}(feed={self.feed!r}, url_override={self.url_override!r})"

    def waiting(self, waits: RateLimitWaits) -> Self:
        """A copy of this provider that waits out a 429 within `waits`."""
        other = copy.copy(self)
        other.waits = waits
        return other

    def data_client(self) -> tuple[Any, Any]:
        """`data_client` for these settings: (StockHistoricalDataClient, DataFeed)."""
        return data_client(
            self._api_key,
            self._secret_key,
            feed=self.feed,
            url_override=self.url_override,
            timeout_seconds=self.timeout_seconds,
            retry_attempts=self.retry_attempts,
            retry_wait_seconds=self.retry_wait_seconds,
            waits=self.waits,
        )


def within_deadline(
    providers: list[P], deadline: datetime | None, clock: Clock, allowance: WaitAllowance | None = None
) -> list[P]:
    """`providers`, the Alpaca ones (copies: a backtest keeps its providers from job to job) waiting out a 429 no later
    than `deadline`, the job's (workflows/job_deadlines.py), read on `clock`, and within `allowance`, what
    the whole command may wait (a command run by hand's); both None: as they are."""
    if deadline is None and allowance is None:
        return providers
    return [
        p.waiting(replace(p.waits, deadline=deadline, clock=clock, allowance=allowance))
        if isinstance(p, DataAccess)
        else p
        for p in providers
    ]


def data_client(
    api_key: str,
    secret_key: str,
    *,
    feed: str,
    url_override: str | None,
    timeout_seconds: float,
    retry_attempts: int,
    retry_wait_seconds: float,
    waits: RateLimitWaits,
) -> tuple[Any, Any]:
    """(StockHistoricalDataClient, DataFeed) for the daily-bar and the latest-price providers alike:
    raw dicts (we build our own records), our timeout, retries on DATA_RETRY_STATUSES, and a 429 waited out as
    Alpaca asks within `waits` (alpaca_limits.py), `retry_attempts` times at most.

    Raises MarketDataError for a feed alpaca-py does not know. The caller closes `client._session`."""
    # lazy: alpaca-py is heavy; keeps CLI start-up fast
    from alpaca.data.enums import DataFeed
    from alpaca.data.historical.stock import StockHistoricalDataClient

    try:
        data_feed = DataFeed(feed)
    except ValueError:
        known = ", ".join(member.value for member in DataFeed)
        raise MarketDataError(f"unknown alpaca data feed {feed!r} (expected one of {known})") from None
    client = StockHistoricalDataClient(api_key=api_key, secret_key=secret_key, raw_data=True, url_override=url_override)
    configure_retries(client, retry_attempts, retry_wait_seconds, DATA_RETRY_STATUSES)
    waits_out_rate_limits(client._session, timeout_seconds, retry_attempts, retry_wait_seconds, waits)
    return client, data_feed


# Alpaca's words when a plan without real-time SIP asks the sip feed for its latest 15 minutes (403): today's, and the
# API's older wording (alpacahq/alpaca-trade-api-python#551).
_RECENT_SIP = ("recent sip data", "past 15 minutes")


def recent_sip_refused(exc: Any) -> str | None:
    """Alpaca's message when `exc` (alpaca-py's APIError) is its 403 to a sip request reaching into its latest 15
    minutes, which only a real-time SIP plan (Algo Trader Plus) may ask: a plan's limit, not a key refused. None for
    any other answer."""
    detail = error_message(str(exc))
    if exc.status_code == 403 and any(words in detail.lower() for words in _RECENT_SIP):
        return detail
    return None


class FeedNotPermitted(MarketDataError):
    """The configured Alpaca feed asks for what the keys' plan does not include (the sip feed's latest trade and
    quote without real-time SIP): assets.yaml's market_data.alpaca_feed to mend (exit 2), not the keys."""

    exit_code = ConfigError.exit_code


def data_api_error(exc: Any, feed: str, retries: int) -> MarketDataError | MarketDataUnavailable:
    """Our error (MarketDataError or MarketDataUnavailable) for an HTTP error alpaca-py raised on a
    market-data read, after its own retries for the retryable statuses."""
    status = exc.status_code
    detail = error_message(str(exc))
    if status in (401, 403):
        return MarketDataError(
            f"alpaca refused the market data request: check the keys (market_data.alpaca key_env/secret_env "
            f"in assets.yaml, ALPACA_DATA_KEY/ALPACA_DATA_SECRET by default) and that they may read the "
            f"{feed!r} feed (HTTP {status}: {detail})"
        )
    refused = getattr(exc.response, "refused_wait", None)
    if status == 429 and refused is not None:
        return MarketDataUnavailable(f"alpaca market data is rate-limited (HTTP 429: {detail}): {refused.said()}")
    # Also 5xx statuses outside the retry list (505, a CDN's 52x): the service, not our request, is at fault.
    if status is not None and (status == 429 or status >= 500):
        # a 429 whose wait was not begun (it named none) still says what Alpaca's headers say of when to try again
        said = f": {reset_said(exc.response.headers, time.time())}" if status == 429 else ""
        return MarketDataUnavailable(
            f"alpaca market data still failing after {retries + 1} attempt(s) (HTTP {status}: {detail}){said}"
        )
    return MarketDataError(f"alpaca rejected the market data request (HTTP {status}: {detail})")


def wire_error(exc: Exception, what: str, where: str, timeout_seconds: float) -> MarketDataUnavailable:
    """Our error for a market-data request `requests` got no usable answer to: the host and the reason in one line
    ("could not reach alpaca market data (data.alpaca.markets): name lookup failed: ..."), never urllib3's
    three nested reprs. Temporary, all of them: a timeout, a refused or reset connection, a name that does not
    resolve, or a 200 whose body is not JSON (a proxy's or a maintenance page)."""
    import requests  # lazy: comes with alpaca-py

    if isinstance(exc, requests.Timeout):
        return MarketDataUnavailable(f"{what} ({where}) did not answer within {timeout_seconds:g}s")
    if isinstance(exc, requests.ConnectionError):
        return MarketDataUnavailable(f"could not reach {what} ({where}): {wire_reason(exc)}")
    return MarketDataUnavailable(f"{what} ({where}) failed: {' '.join(str(exc).split())}")


def impose_timeout(session: Session, timeout_seconds: float) -> None:
    """Give every request on `session` a connect and read timeout unless the caller passed one.

    alpaca-py calls `session.request(...)` without `timeout`, so a stalled server would hang the run
    forever. Mounting a transport adapter is the hook requests itself offers for per-session transport
    policy (Session.mount is public API): it touches none of alpaca-py's private request methods, keeps
    the session's headers and cookies, and covers every call the client makes, pagination included.
    Overriding RESTClient._one_request instead would copy alpaca-py's error handling into our code.
    """
    if timeout_seconds <= 0:
        raise ValueError("timeout_seconds must be positive")
    adapter = timeout_adapter_class()(timeout_seconds)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


def configure_retries(client: Any, attempts: int, wait_seconds: float, statuses: Iterable[int]) -> None:
    """Set alpaca-py's own retry loop on `client`: `attempts` retries, `wait_seconds` apart, on `statuses`.

    Not every client forwards retry settings to RESTClient (StockHistoricalDataClient and TradingClient
    do not, alpaca-py 0.44), and RESTClient.__init__ ignores a 0 anyway (`if retry_attempts and ...`),
    so there is no public way to switch retries off. We set the attributes __init__ would have set.
    """
    if attempts < 0 or wait_seconds < 0:
        raise ValueError("attempts and wait_seconds must not be negative")
    client._retry = attempts
    client._retry_wait = wait_seconds
    client._retry_codes = list(statuses)


@cache
def timeout_adapter_class() -> type:
    # lazy: requests comes in with alpaca-py; defined on first use so importing this module stays cheap
    from requests.adapters import HTTPAdapter

    class TimeoutHTTPAdapter(HTTPAdapter):
        def __init__(self, timeout_seconds: float, **kwargs: Any):
            self.timeout_seconds = timeout_seconds
            super().__init__(**kwargs)

        def send(self, request: Any, stream: bool = False, timeout: Any = None, **kwargs: Any) -> Any:
            # An explicit per-call timeout still wins; only the missing one gets our default.
            chosen = self.timeout_seconds if timeout is None else timeout
            return super().send(request, stream=stream, timeout=chosen, **kwargs)

    return TimeoutHTTPAdapter


def error_message(body: str) -> str:
    """Alpaca's `{"message": ...}` when the body has one, else the body itself, clipped."""
    parsed = _json_object(body)
    if parsed is not None and isinstance(parsed.get("message"), str):
        return parsed["message"]
    return body.strip()[:200] or "empty body"


def error_code(body: str) -> int | None:
    """Alpaca's numeric `{"code": ...}` (e.g. 40010001) when the body has one."""
    parsed = _json_object(body)
    code = parsed.get("code") if parsed is not None else None
    # bool is an int too; a code of `true` is not a code.
    return code if isinstance(code, int) and not isinstance(code, bool) else None


def error_object(body: str) -> dict[str, Any] | None:
    """Alpaca's error body as a JSON object (its other fields: a buying power refusal's figures), or None."""
    return _json_object(body)


def _json_object(body: str) -> dict[str, Any] | None:
    # alpaca-py's APIError.code/.message call json.loads unguarded; a proxy's HTML page would raise there.
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
