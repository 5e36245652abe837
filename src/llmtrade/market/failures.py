"""How a market data provider failed, and what it means when every provider did: exit 75, 1 or 2.

A provider's failure is one of two kinds. Temporary (MarketDataUnavailable): it could not be reached or is
struggling, so no answer came back -- no network, a name that does not resolve, a refused or reset connection, a
connect or read timeout, HTTP 429 or 5xx, a maintenance page where data should be (yfinance turns each of these
into an empty frame: market/yfinance_wire.py finds out which it was). Operational: it answered, and will answer
the same next time -- a refused key (401/403) or request (404, 422), a symbol it does not know (MarketDataMissing),
a hole, a duplicate, a bad value or a stale feed (SeriesRejected). A provider that cannot be asked at all (no keys:
MarketProviderUnset) is neither.

When every provider failed, the failure is temporary only if at least one failed temporarily and none answered
wrongly. The one that could not be reached has not had its say, so a later run may well succeed; an answer that was
refused, though, is something to look at now, and under cron exit 75 means "try again later" and is not mailed, so
waiting would hide it. This is the rule a council's or the research's failure of all follows (exits.all_failed).
A failure of the run's own CSV folder (no usable file for a configured symbol, a file whose header or rows cannot be
read) is its configuration's to mend: exit 2 whatever the others said (PriceFilesMisconfigured).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Sequence
from datetime import date

from llmtrade.config_errors import ConfigError
from llmtrade.errors import (
    BarNotComplete,
    MarketDataError,
    MarketDataMissing,
    MarketDataUnavailable,
    MarketProviderUnset,
)
from llmtrade.market.calendar import TradingCalendar
from llmtrade.market.provider import BarProvider
from llmtrade.market.validation import SeriesRejected


class PriceFilesMisconfigured(MarketDataError):
    """Market data the run's own CSV folder (assets.yaml market_data.csv_dir, LLMTRADE_MARKET_CSV_DIR, --csv) cannot
    give for a symbol the configuration asks for: no usable file (missing, empty, a folder, no permission), or a file
    whose header or rows cannot be read as prices. The folder or the configuration is to mend, as any bad
    configuration (exit 2; a new user's trial met exit 1 under a message saying to edit assets.yaml). A file only
    out of reach for a while (a network share's stale handle) is not one: see market/csv_folder.py."""

    exit_code = ConfigError.exit_code


class PriceFileMissing(PriceFilesMisconfigured, MarketDataMissing):
    """A CSV folder with no usable file for some symbols (`symbols`): the next provider is asked for them (a
    MarketDataMissing), and when none supplies them the run stops with exit 2 (`none_left`)."""


# The failures after which the next provider is asked (a series the validator refuses is the third, SeriesRejected,
# which the service records problem by problem).
FALLBACK: tuple[type[Exception], ...] = (MarketDataUnavailable, MarketDataMissing)

# Exception class names (anywhere in the class's MRO) of a request that got no answer, in requests, urllib3,
# curl_cffi and http.client alike; their builtin kin (socket errors, TimeoutError) are OSErrors already.
_NO_ANSWER = frozenset(
    {
        "ConnectionError",
        "Timeout",
        "ConnectTimeout",
        "ReadTimeout",
        "ProxyError",
        "SSLError",
        "ChunkedEncodingError",
        "IncompleteRead",
        "RemoteDisconnected",
        "ProtocolError",
        "DNSError",
    }
)

# curl's own words inside curl_cffi's message: "Failed to perform, curl: (6) Could not resolve host: h. See https://..."
_CURL = re.compile(r"curl: \(\d+\) (?P<reason>.+?)\.?(?: See https?://curl\.se\S*.*)?$")


def none_left(message: str, errors: Sequence[BaseException]) -> MarketDataError | MarketDataUnavailable:
    """The error for a request no provider could answer, each provider's failure in `errors`: temporary when one
    could not be reached and none answered wrongly (see the module's docstring), else operational. `message`: see
    `nobody_could`."""
    asked = [e for e in errors if not isinstance(e, MarketProviderUnset)]
    if any(_misconfigured(e) for e in asked):
        # The run's own CSV folder cannot give a configured symbol's prices: its configuration to mend (exit 2),
        # whatever the other providers said (a trial's missing file exited 1 under "edit assets.yaml").
        return PriceFilesMisconfigured(message)
    pending = [e for e in asked if isinstance(e, BarNotComplete)]
    if asked and len(pending) == len(asked):  # only the last session's bar is not final yet, anywhere
        return BarNotComplete(message, session=pending[0].session, reasons=[str(e) for e in pending])
    if asked and all(isinstance(e, MarketDataUnavailable) for e in asked):
        return MarketDataUnavailable(message)
    return MarketDataError(message)


def _misconfigured(exc: BaseException) -> bool:
    """A CSV folder's failure that its configuration is to mend: a file missing or unusable, or rows unreadable."""
    return isinstance(exc, PriceFilesMisconfigured) or (isinstance(exc, SeriesRejected) and exc.files)


def nobody_could(what: str, failures: Sequence[str]) -> str:
    """The message of a request no provider answered: each provider's failure first, what was wanted after. A user
    reads the cause first (`csv: /data/GLD.csv, line 1535: ...`), not a summary of 7 symbols and a date range that
    pushes the file and line off a terminal's line. A failure of several lines (a count, then one problem a line)
    keeps its lines under the heads."""
    if not failures:
        return what
    heads = [failure.split("\n", 1)[0].removesuffix(":") for failure in failures]
    details = [line for failure in failures for line in failure.splitlines()[1:]]
    return "\n".join([f"{'; '.join(heads)} (so {what})" + (":" if details else ""), *details])


def own_words(exc: BaseException) -> str:
    """Why a read of one symbol failed, in the providers' own words (the file, the line, what is wrong) without the
    summary of what was wanted that `nobody_could` puts after them: what a candidate left out is said with."""
    lines = str(exc).splitlines() or [type(exc).__name__]
    said = [line.strip().removeprefix("- ") for line in lines[1:]] or [lines[0].split(" (so no market data")[0]]
    return "; ".join(line.removeprefix("csv: ") for line in said)


def no_answer(exc: BaseException) -> bool:
    """Whether `exc`, raised by an HTTP client, means the request got no answer (temporary): not reached, reset, timed
    out. A request the client refused to send (a bad URL or header: a ValueError too) is not an outage."""
    if isinstance(exc, (ValueError, TypeError)):
        return False
    names = {cls.__name__ for cls in type(exc).__mro__}
    return isinstance(exc, (TimeoutError, ConnectionError, socket.gaierror)) or bool(names & _NO_ANSWER)


def wire_reason(exc: BaseException) -> str:
    """Why a request got no answer, in one short line: curl's own words when curl_cffi raised it ("Could not resolve
    host: query2.finance.yahoo.com"), else the operating system's at the bottom of the chain requests and urllib3 wrap
    it in ("connection refused", "name lookup failed: Name or service not known", "timed out")."""
    text = " ".join(str(exc).split())
    curl = _CURL.search(text)
    if curl:
        return curl.group("reason")
    bottom = _bottom(exc)
    if isinstance(bottom, socket.gaierror):
        return f"name lookup failed: {bottom.strerror or bottom}"
    if isinstance(bottom, TimeoutError):
        return "timed out"
    if isinstance(bottom, OSError) and bottom.strerror:
        return bottom.strerror[:1].lower() + bottom.strerror[1:]
    return text or type(exc).__name__


def not_complete(provider: BarProvider, calendar: TradingCalendar, sessions: Sequence[date]) -> BarNotComplete | None:
    """`provider` not asked for a range whose last session (of `sessions`) it has no complete bar of yet (its
    `incomplete`: Alpaca's SIP feed asked 16 minutes back, Yahoo's bar still live after the close), as a temporary
    failure: the next provider is asked, and a later run asks it again. Taken, its bar would have been returned and
    cached as the session's, without its close; a session counts as complete at its close (calendar.py), not its bar
    at every provider. None when the bar is complete, or the range holds no session."""
    if not sessions:
        return None
    why = provider.incomplete(calendar.session_close(sessions[-1]))
    if why is None:
        return None
    return BarNotComplete(f"{provider.name} has no complete bar of {sessions[-1]} yet: {why}", session=sessions[-1])


def few(names: Sequence[str], shown: int = 5, *, noun: str = "symbols") -> str:
    """`names` for a one-line message: all of a few, else how many and the first `shown` (discovery asks ~300)."""
    if len(names) <= shown + 1:
        return ", ".join(names)
    return f"{len(names)} {noun} ({', '.join(names[:shown])} and {len(names) - shown} more)"


def _bottom(exc: BaseException) -> BaseException:
    """The innermost exception `exc` was raised from or during (requests -> urllib3 -> the socket's OSError)."""
    seen: list[BaseException] = [exc]
    link = exc.__cause__ or exc.__context__
    while link is not None and all(link is not s for s in seen):
        seen.append(link)
        link = link.__cause__ or link.__context__
    return seen[-1]


def none_for(provider: str, origin: Callable[[str], str | None], symbols: Sequence[str], start: date, end: date) -> str:
    """What to say when `provider` has no bar at all for `symbols` in start..end: the range, and the files when the
    provider reads files (`origin`: a symbol's file; a range before a CSV's first row, or a file with only its
    header)."""
    located = [where for s in symbols if (where := origin(s)) is not None]
    if not located:
        return f"{provider} returned no bars for {few(symbols)} between {start} and {end}"
    files = few(located, noun="files")
    return (
        f"no bars between {start} and {end} in {files}; give files whose rows cover that range, or leave a symbol not "
        "yet listed then out of assets.yaml's universe for this range"
    )
