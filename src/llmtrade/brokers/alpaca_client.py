"""The calls the Alpaca broker makes through alpaca-py's TradingClient, and their failures as our errors.

One client per account, built on first use (alpaca-py is imported only then: importing the broker stays cheap), with
alpaca-py's own retry loop switched off and a timeout on every request (brokers/alpaca.py says why no call is retried
blindly). Alpaca's rate limit (200 requests a minute, X-RateLimit-Reset on every answer) is answered as the market
data's is (market/alpaca_limits.py), within a short bound (TRADING_WAIT_SECONDS): a read (GET) or a cancel (DELETE)
answered 429 is sent again once the window resets; an order's POST is waited out but never resent here (the broker
looks the order up first). A 429 not waited out names when to try again. `read` turns what a call raises into our
error families: no answer, 429 and 5xx are BrokerUnavailable
(temporary), a refusal is BrokerRejected, an answer alpaca-py cannot read is OperationalError. Orders are looked up by
client_order_id and listed page by page (GET /v2/orders has no page token). What the answers mean is
brokers/alpaca_orders.py's; what to do with them is brokers/alpaca.py's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError

from llmtrade.brokers.alpaca_answers import answer_of
from llmtrade.brokers.alpaca_chains import chain_of
from llmtrade.brokers.alpaca_orders import enum_value, short
from llmtrade.brokers.alpaca_refusal_notes import refusal
from llmtrade.errors import BrokerRejected, BrokerUnavailable, LlmtradeError, OperationalError
from llmtrade.market.alpaca_http import configure_retries, error_message
from llmtrade.market.alpaca_limits import LATE_SECONDS, RateLimitWaits, reset_said, waits_out_rate_limits

T = TypeVar("T")

# The statuses that prove Alpaca refused a request, the order not stored (bad request, bad keys, forbidden: buying
# power or shares held, not found, unprocessable). Any other (429, 5xx, and a proxy's 408, a 409 or 425 on the way)
# leaves unknown whether it landed: a submission answered so is settled by looking the order up, a read is retried.
REFUSED = frozenset({400, 401, 403, 404, 405, 422})

# The most one account's calls of one command wait out Alpaca's rate limit in all: what any market-data read may wait
# past its job's deadline, as this client is given no deadline. A window further off (a minute at most) is not waited:
# the call fails at once as temporary (exit 75), naming when the window resets, and the job's rerun goes on then.
TRADING_WAIT_SECONDS = LATE_SECONDS
# The calls sent again after a 429 is waited out: reads, and a cancel (a second DELETE of an order that ended is a 422,
# no cancel of ours). Never an order's POST.
_RESENT = frozenset({"GET", "DELETE"})
# How often a call answered 429 is waited out and sent again.
_RATE_LIMIT_ATTEMPTS = 2

# GET /v2/orders answers at most 500 orders a request (a larger limit is cut to 500 without notice).
_PAGE = 500
# A market order Alpaca has routed to its venue in session and not filled yet: it fills within moments (`routed`).
ROUTED_STATUSES = frozenset({"new", "pending_new", "partially_filled"})
ROUTED_WAIT_SECONDS = 3.0
ROUTED_POLL_SECONDS = 0.25


class AlpacaTrading:
    """One account's TradingClient, built on first use; the keys stay here and out of every repr."""

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        *,
        paper: bool,
        url_override: str | None,
        endpoint: str,
        timeout: float,
        waits: RateLimitWaits | None = None,
    ) -> None:
        self._api_key = api_key
        self._secret_key = secret_key
        self.paper = paper
        self.url_override = url_override
        self.endpoint = endpoint
        self.timeout_seconds = timeout
        # tests step a fake's wall clock through `waits` instead of sleeping
        self.waits = waits or RateLimitWaits(most_seconds=TRADING_WAIT_SECONDS)
        self._client: Any = None
        self._raw_client: Any = None

    def __repr__(self) -> str:
        # Never show the keys, not even in a traceback's locals.
        return f"AlpacaTrading(endpoint={self.endpoint!r})"

    def close(self) -> None:
        """Release the pooled connection; a new one is opened if used again."""
        for client in (self._client, self._raw_client):
            if client is not None:
                client._session.close()
        self._client = self._raw_client = None

    def client(self, *, raw: bool = False) -> Any:
        """alpaca-py's TradingClient for the account, built on first use; `raw`: the one answering JSON (raw_data),
        for an answer alpaca-py's models refuse (`read`)."""
        if (self._raw_client if raw else self._client) is None:
            # lazy: alpaca-py is heavy; keeps CLI start-up fast
            from alpaca.trading.client import TradingClient

            client = TradingClient(
                api_key=self._api_key,
                secret_key=self._secret_key,
                paper=self.paper,
                url_override=self.url_override,
                raw_data=raw,
            )
            # No blind retries: see brokers/alpaca.py's docstring. Only a 429 whose wait Alpaca names, within the bound,
            # is waited out (a read resent); anything else fails fast and the caller's rerun retries it.
            configure_retries(client, 0, 0, ())
            waits_out_rate_limits(
                client._session, self.timeout_seconds, _RATE_LIMIT_ATTEMPTS, None, self.waits, resent=_RESENT
            )
            if raw:
                self._raw_client = client
            else:
                self._client = client
        return self._raw_client if raw else self._client

    def lookup(self, client_order_id: str) -> Any:
        """Alpaca's order (alpaca-py's model, or an Answer: `fetch`) with this client_order_id; None if it has none."""
        # lazy: alpaca-py is heavy; keeps CLI start-up fast
        from alpaca.common.exceptions import APIError

        def get(client: Any) -> Any:
            try:
                return client.get_order_by_client_id(client_order_id)
            except APIError as exc:
                if exc.status_code == 404:
                    return None
                raise

        return self.fetch(f"the lookup of order {client_order_id}", get)

    def by_id(self, order_id: str) -> Any:
        """Alpaca's order with this id (GET /v2/orders/{id}), or None when it has none: the next or an earlier order of
        a chain of replacements (brokers/alpaca_chains.py)."""
        # lazy: alpaca-py is heavy; keeps CLI start-up fast
        from alpaca.common.exceptions import APIError

        def get(client: Any) -> Any:
            try:
                return client.get_order_by_id(order_id)
            except APIError as exc:
                if exc.status_code == 404:
                    return None
                raise

        return self.fetch(f"order {order_id}", get)

    def replacing(self, replaced: Any) -> Any:
        """The order whose `replaces` is `replaced`'s id, from the account's orders submitted since it (a listing), or
        None: the replacement of an order Alpaca ended "replaced" without naming it (`replaced_by` null: one updated
        for a corporate action) or naming one GET /v2/orders/{id} did not find (brokers/alpaca_chains.py)."""
        since = replaced.submitted_at or replaced.created_at
        after = None if since is None else since - timedelta(seconds=1)
        found = [o for o in self.orders("all", after=after) if str(o.replaces or "") == str(replaced.id)]
        return found[0] if found else None

    def chain(self, found: Any) -> list[Any]:
        """`found` and the orders that replaced it (brokers/alpaca_chains.py `chain_of`)."""
        return chain_of(found, self.by_id, self.replacing)

    def fetch(self, what: str, call: Callable[[Any], T]) -> T:
        """`call(client)`, read as `read` reads it; an answer alpaca-py's models refuse is asked again as JSON (the
        raw client) and read by name (brokers/alpaca_answers.py)."""
        return self.read(what, lambda: call(self.client()), raw=lambda: answer_of(call(self.client(raw=True))))

    def looked_up(self, client_order_id: str) -> Any:
        """`lookup`, or None when it fails too (after a cancel: the order's state is then left to the next look)."""
        try:
            return self.lookup(client_order_id)
        except LlmtradeError:
            return None

    def looked_up_chain(self, client_order_id: str) -> list[Any] | None:
        """The order and the orders that replaced it (brokers/alpaca_chains.py `chain_of`), or None when it is not
        found or the reads fail (after a cancel: the order's state is then left to the next look)."""
        try:
            found = self.lookup(client_order_id)
            return None if found is None else self.chain(found)
        except LlmtradeError:
            return None

    def routed(self, placed: Any) -> Any:
        """`placed` (the order a POST's answer gave), or the same order looked up again once it has filled, when that
        answer was a market order routed in session and not filled yet ("new", "pending_new", "partially_filled"):
        Alpaca fills such an order within moments, after its answer. Looked up every ROUTED_POLL_SECONDS for at most
        ROUTED_WAIT_SECONDS, then left as it is (a fill later is found by the next look). Without it a side change's
        close, found unfilled by the one lookup right after its POST, held its opening leg back until the next
        checkpoint, hours later (an audit against Alpaca's behaviour); one queued outside the session ("accepted")
        is not waited for. A failed lookup ends the wait: the answer stands."""
        found, waited = placed, 0.0
        while enum_value(found.status) in ROUTED_STATUSES and waited < ROUTED_WAIT_SECONDS:
            self.waits.sleep(ROUTED_POLL_SECONDS)
            waited += ROUTED_POLL_SECONDS
            again = self.looked_up(str(found.client_order_id))
            if again is None:
                break
            found = again
        return found

    def orders(self, status: str, *, after: datetime | None) -> list[Any]:
        """Every order with `status` ("open", "closed", "all") submitted after `after`, each once.

        GET /v2/orders has no page token: it returns at most `limit` (max 500) orders, newest first, and
        the next page is asked with `until` (exclusive, on submission time). Orders submitted in the same
        instant as the last one of a page would fall between pages, so the next page's `until` is a
        microsecond past that instant and the orders seen twice are dropped by id.
        """
        # lazy: alpaca-py is heavy; keeps CLI start-up fast
        from alpaca.common.enums import Sort
        from alpaca.trading.enums import QueryOrderStatus
        from alpaca.trading.requests import GetOrdersRequest

        seen: dict[str, Any] = {}
        until: datetime | None = None
        while True:
            request = GetOrdersRequest(
                status=QueryOrderStatus(status),
                limit=_PAGE,
                after=after,
                until=until,
                direction=Sort.DESC,
                nested=False,
            )
            page = self.fetch("the orders", lambda client, request=request: client.get_orders(request))
            fresh = [o for o in page if str(o.id) not in seen]
            seen.update((str(o.id), o) for o in page)
            if len(page) < _PAGE:
                break
            if not fresh:
                raise OperationalError(
                    f"alpaca returned more than {_PAGE} orders submitted in one instant; cannot page past them"
                )
            until = min(o.submitted_at for o in page) + timedelta(microseconds=1)
        return sorted(seen.values(), key=lambda o: o.submitted_at)

    def read(self, what: str, call: Callable[[], T], raw: Callable[[], T] | None = None) -> T:
        """`call()`, with everything it may raise translated into our error families; an answer alpaca-py cannot read
        is OperationalError, unless `raw` reads it otherwise (`fetch`)."""
        # lazy: alpaca-py is heavy; keeps CLI start-up fast
        import requests
        from alpaca.common.exceptions import APIError

        try:
            return call()
        except requests.RequestException as exc:
            raise BrokerUnavailable(
                f"alpaca ({self.endpoint}) failed {what}: {transport_detail(exc, self.timeout_seconds)}"
            ) from exc
        except APIError as exc:
            status, body = exc.status_code, str(exc)
            if status not in REFUSED:
                said = limit_said(exc, self.waits.wall())
                raise BrokerUnavailable(
                    f"alpaca ({self.endpoint}) failed {what} (HTTP {status}: {error_message(body)}){said}"
                ) from exc
            raise BrokerRejected(refusal(f"alpaca ({self.endpoint}) refused {what}", status, body)) from exc
        except ValidationError as exc:
            if raw is not None:
                return self.read(what, raw)
            raise OperationalError(f"alpaca answered {what} in a shape alpaca-py cannot read: {short(exc)}") from exc


def limit_said(exc: Any, now: float) -> str:
    """For an APIError of HTTP 429, when to try again ("; Alpaca asked to wait 40 s, longer than ...; try again from
    ..."), from the wait the client refused or the answer's headers read at epoch second `now`; "" for any other
    status."""
    if exc.status_code != 429:
        return ""
    refused = getattr(exc.response, "refused_wait", None)
    if refused is not None:
        return f"; {refused.said()}"
    return f"; {reset_said(exc.response.headers, now)}"


def transport_detail(exc: Exception, timeout_seconds: float) -> str:
    # lazy: alpaca-py is heavy; keeps CLI start-up fast (requests comes with it)
    import requests

    # ConnectTimeout is both; it means "never connected", so ConnectionError is checked first.
    if isinstance(exc, requests.ConnectionError):
        return f"could not connect or the connection dropped: {exc}"
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout_seconds:g}s"
    return f"unusable answer: {exc}"
