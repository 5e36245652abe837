"""yfinance with its failures told: what it met on the wire, and its own log kept off the terminal.

yfinance (1.7) catches every failure inside `download`. A host name that does not resolve, a refused connection,
a timeout, Yahoo's 429 or 5xx all end as an empty frame, and the reason goes only to the `yfinance` logger, which
Python prints on stderr when nobody configured a handler: some 45 lines for a weekly run's universe, 366 for
discovery's candidates, into cron's mail even under -q. The line it prints is often "possibly delisted; no timezone
found", which is also what it says of a symbol that is really gone (ranaroussi/yfinance#2329: a page that is not
JSON; #1996 and #2469: a 429). So `download` here runs `yfinance.download` on a session whose every request is
watched, keeps the logger's records instead of printing them, and `Wire.failure` says what an empty answer was:
MarketDataUnavailable (temporary) when a request got no answer, or a 429, a 5xx or a page that is not JSON came
back; MarketDataMissing when Yahoo answered and had nothing, in yfinance's own words.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from llmtrade.errors import MarketDataMissing, MarketDataUnavailable
from llmtrade.market.failures import no_answer, wire_reason

# yfinance keeps one session for the process (YfData is a singleton that each `download` re-points) and logs to
# one logger: two downloads at once would watch each other's requests and records.
_ONE_AT_A_TIME = threading.Lock()

# What a chart request's answer and a wire failure can say at most in a one-line message.
_CLIP = 200
# How many of yfinance's lines a failure quotes (one per reason: its summary groups the symbols by reason).
_WORDS = 3


@dataclass(frozen=True)
class Exchange:
    """One request yfinance sent: its URL and either the HTTP status (and whether the body looked like JSON) or the
    exception it raised."""

    url: str
    status: int | None = None
    json: bool = False
    error: BaseException | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or self.url

    @property
    def chart(self) -> bool:
        return "/finance/chart/" in self.url

    @property
    def symbol(self) -> str | None:
        """The symbol a chart request asked for (/v8/finance/chart/SPY); None for any other request."""
        path = urlsplit(self.url).path
        return unquote(path.rsplit("/", 1)[1]) if self.chart and "/" in path else None


@dataclass
class Wire:
    """The requests of one `download` and the lines yfinance logged during it."""

    exchanges: list[Exchange] = field(default_factory=list)
    said: list[str] = field(default_factory=list)
    raised: BaseException | None = None  # what `yfinance.download` itself raised, if it did
    spelled: dict[str, str] = field(default_factory=dict)  # our symbol -> Yahoo's spelling of it, where they differ

    def outage(self, symbols: Sequence[str] = ()) -> str | None:
        """Why Yahoo could not be heard, in one line, when it could not: a request that got no answer, or a 429, a
        5xx or a page that is not JSON where its chart API answers; None when Yahoo answered. Chart requests decide
        when there were any (a crumb request may fail while the charts still answer); `symbols`: only those symbols'
        chart requests, when there were any (Yahoo throttled one symbol of a batch, the others came back)."""
        charts = [x for x in self.exchanges if x.chart]
        of = [x for x in charts if x.symbol in self._yahoo(symbols)]
        asked = of or charts or self.exchanges
        for exchange in asked:
            if exchange.error is not None and no_answer(exchange.error):
                reason = wire_reason(exchange.error)[:_CLIP]
                return reason if exchange.host in reason else f"{exchange.host}: {reason}"
        for exchange in asked:
            if exchange.status is not None and (exchange.status == 429 or exchange.status >= 500):
                return f"{exchange.host} answered HTTP {exchange.status}"
            if exchange.chart and exchange.status is not None and exchange.status < 300 and not exchange.json:
                return f"{exchange.host} answered a page that is not JSON (HTTP {exchange.status})"
        if self.raised is not None and no_answer(self.raised):
            return wire_reason(self.raised)[:_CLIP]
        return None

    def failure(
        self,
        what: str,
        *,
        hint: str = "",
        symbols: Sequence[str] = (),
        answered: Mapping[str, Sequence[Any]] | None = None,
    ) -> MarketDataUnavailable | MarketDataMissing:
        """The error for `what` ("yfinance returned no bars for SPY, TLT") that this download left empty; `hint`
        follows when Yahoo answered (why it may have nothing). `symbols`: the symbols it lacked when others came
        back (`answered`, their bars): told by their own requests and yfinance's lines about them."""
        reason = self.outage(symbols)
        if reason is not None:
            return MarketDataUnavailable(f"{what}: {reason}", symbols=symbols, answered=answered)
        if self.raised is not None:
            said = f"yfinance failed: {type(self.raised).__name__}: {_line(self.raised)}"
        else:
            words = self._words(symbols)
            said = (
                f"yfinance said {'; '.join(repr(w[:_CLIP]) for w in words)}" if words else "Yahoo answered with nothing"
            )
        message = f"{what}: {said}" + (f" ({hint})" if hint else "")
        return MarketDataMissing(message, symbols=symbols, answered=answered)

    def _words(self, symbols: Sequence[str]) -> list[str]:
        """What yfinance said of `symbols` (of the download, when none given): its summary lines, which group the
        symbols by reason ("['NEWCO']: possibly delisted; no price data found ..."), else its line per symbol
        ("$NEWCO: ..."); a few at most. Its count line ("1 Failed download:") says nothing of why."""
        lines = [line for line in self.said if "Failed download" not in line]
        named = [line for line in lines if any(_names(line, symbol) for symbol in self._yahoo(symbols))]
        if not named:
            return lines[:1]
        summary = [line for line in named if line.startswith("[")]
        return (summary or named)[:_WORDS]

    def _yahoo(self, symbols: Sequence[str]) -> list[str]:
        """`symbols` as Yahoo spells them, as its chart requests and yfinance's lines name them."""
        return [self.spelled.get(symbol, symbol) for symbol in symbols]


# A US share class as Alpaca and the exchanges write it (BRK.B, BF.B, HEI.A): Yahoo writes it with a hyphen (BRK-B), and
# answers the dotted name "Not Found", its "." being the suffix of a foreign exchange (VOD.L, RY.TO).
_SHARE_CLASS = re.compile(r"[A-Z][A-Z0-9]*\.[A-Z]")


def yahoo_symbol(symbol: str) -> str:
    """`symbol` as Yahoo spells it: BRK.B is BRK-B there (ranaroussi/yfinance#38, #50); every other symbol as it is."""
    return symbol.replace(".", "-") if _SHARE_CLASS.fullmatch(symbol) else symbol


def _names(line: str, symbol: str) -> bool:
    """Whether one of yfinance's lines is about `symbol`: "$NEWCO: ..." or "['NEWCO', 'GONE']: ..."."""
    if line.startswith(f"${symbol}:"):
        return True
    head, colon, _ = line.partition("]:")
    return bool(colon) and head.startswith("[") and f"'{symbol}'" in head


def download(symbols: Sequence[str], *, session: Any = None, timeout: float, **options: Any) -> tuple[Any, Wire]:
    """`yfinance.download(symbols, **options)` watched, as llmtrade always asks it (raw prices, no dividend or split
    columns, one thread, no progress bar, columns by ticker): its frame (None if it raised) and what it met.
    `session`: a requests or curl_cffi session for yfinance to use (tests pass one whose transport answers as
    Yahoo does); by default the one yfinance would make itself. Nothing of yfinance reaches stderr: its log
    records are kept in the Wire, and its warnings (pandas deprecations inside it) are not ours to show."""
    import yfinance  # lazy: yfinance pulls in pandas and curl_cffi; keeps CLI start-up fast

    # Yahoo is asked in its own spelling of each symbol (`yahoo_symbol`), and the frame's columns named back in ours.
    wire = Wire(spelled={s: yahoo_symbol(s) for s in symbols if yahoo_symbol(s) != s})
    with _ONE_AT_A_TIME, _kept(wire), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # yfinance keeps every answer for a range that ended 30 minutes ago in a process-wide lru_cache, a 5xx or a
        # maintenance page alike: asked again in the process, the outage came back with no request on the wire, so
        # read as Yahoo having nothing (permanent). Every download asks Yahoo; llmtrade's bar cache is the memory.
        _forget(yfinance)
        watched = _watched(session if session is not None else _new_session(), wire)
        try:
            frame = yfinance.download(
                [wire.spelled.get(s, s) for s in symbols],
                session=watched,
                timeout=timeout,
                auto_adjust=False,
                actions=False,
                progress=False,
                threads=False,
                group_by="ticker",
                **options,
            )
        except Exception as exc:  # it catches nearly everything itself; what escapes is told like the rest
            wire.raised = exc
            frame = None
    if frame is not None and wire.spelled and frame.columns.nlevels > 1:
        frame = frame.rename(columns={yahoo: ours for ours, yahoo in wire.spelled.items()}, level=0)
    return frame, wire


def _forget(yfinance: Any) -> None:
    """Empty yfinance's in-memory cache of answers (`YfData.cache_get` in yfinance 1.7), where it has one."""
    cache_get = getattr(getattr(getattr(yfinance, "data", None), "YfData", None), "cache_get", None)
    clear = getattr(cache_get, "cache_clear", None)
    if callable(clear):
        clear()


def _new_session() -> Any:
    """The session yfinance would make for itself (curl_cffi impersonating a browser, else requests)."""
    try:
        from yfinance._http import new_session  # yfinance >= 1.0
    except ImportError:
        import requests

        return requests.Session()
    return new_session()


def _watched(session: Any, wire: Wire) -> Any:
    """`session` with every request it sends noted in `wire`. requests' and curl_cffi's `get` and `post` both go
    through `session.request`, so one instance attribute sees them all; the session stays the class yfinance
    accepts."""
    # The session's own `request`, kept on it the first time: a session reused across downloads is watched once,
    # by the current download's wire, not through a chain of every earlier one.
    send: Callable[..., Any] = getattr(session, "_unwatched_request", session.request)
    session._unwatched_request = send

    def request(*args: Any, **kwargs: Any) -> Any:
        url = str(kwargs.get("url", args[1] if len(args) > 1 else ""))
        try:
            response = send(*args, **kwargs)
        except Exception as exc:
            wire.exchanges.append(Exchange(url, error=exc))
            raise
        body = (getattr(response, "text", "") or "").lstrip()
        wire.exchanges.append(Exchange(url, status=response.status_code, json=body.startswith(("{", "["))))
        return response

    session.request = request
    return session


class _Keep(logging.Handler):
    def __init__(self, wire: Wire):
        super().__init__(logging.WARNING)
        self.wire = wire

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = " ".join(record.getMessage().split())
        except Exception:  # a record whose arguments do not format is still not worth a traceback on stderr
            return
        if line:
            self.wire.said.append(line)


@contextmanager
def _kept(wire: Wire) -> Iterator[None]:
    """The `yfinance` logger's records go into `wire`, not up to the root logger or Python's last-resort stderr."""
    logger = logging.getLogger("yfinance")
    handler = _Keep(wire)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:_CLIP]
