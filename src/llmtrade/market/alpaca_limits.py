"""Alpaca's rate limit waited out as Alpaca names it, not alpaca-py's fixed three seconds.

Alpaca answers a request over the account's limit (200 a minute on the free plan) with 429, and every answer says
where the account stands: X-RateLimit-Limit, X-RateLimit-Remaining and X-RateLimit-Reset, the epoch second the
window resets ("on 429, do not retry before X-RateLimit-Reset", docs.alpaca.markets, rate limits). alpaca-py 0.44
(alpaca/common/rest.py) retries a 429 `retry_attempts` times `retry_wait_seconds` apart (3 and 3 by default) and
reads no header: a window that resets 20 s later was hit four times in 9 s and the read failed as temporary (exit 75)
though waiting what Alpaca said would have answered it. So a market-data client's session carries an adapter that
answers a 429 itself: it waits until the reset (or a Retry-After, where a proxy sends one) and sends the request
again, within a bound (`RateLimitWaits`: a sane most, and the job's deadline when there is one, though 9 s are always
allowed; for a command run by hand, BY_HAND_SECONDS for all its reads together). A wait past the bound is not begun:
the read fails at once as temporary, naming the wait Alpaca asked for and the time to try again from. alpaca-py's own
loop no longer retries a 429 (alpaca_http.DATA_RETRY_STATUSES). The trading client (brokers/alpaca_client.py) mounts the
same adapter with a short bound and resends only what may be sent twice (a GET, a DELETE): a POST's 429 is waited out
but not resent, and the order is settled by a lookup first (brokers/alpaca.py), never by a blind second POST.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from llmtrade.clock import Clock, SystemClock
from llmtrade.domain.tracing import LOGGER
from llmtrade.retry_after import http_instant, retry_after_seconds

# A wait is said as it begins (the log file; stderr under --verbose): up to MOST_SECONDS with nothing on the terminal,
# a run looked hung on its prices.
_log = logging.getLogger(f"{LOGGER}.market")
# The longest a market-data read waits out Alpaca's rate limit, all its waits together: a window is a minute long,
# so a reset further off than this is a limit set some other way, not worth holding a job for.
MOST_SECONDS = 90.0
# What a read may always wait in all, its job's deadline near or past (a late catch-up run): alpaca-py's own three
# retries 3 s apart, which a throttled read had before llmtrade answered a 429 itself. Refusing even a 0.5 s wait there
# failed the job (exit 75) over one throttled read.
LATE_SECONDS = 9.0
# The most a command run by hand (`status`, `market bars`, `positions list`...) waits out rate limits, all its reads
# together (`WaitAllowance`): a person at a terminal, where each read's own 90 s made `status` wait for minutes. Past it
# a 429 fails its read at once, as temporary (exit 75), naming it.
BY_HAND_SECONDS = 45.0
# X-RateLimit-Reset is a whole second: a request sent on it may still count in the window that is ending.
_MARGIN = 0.5
# How far this machine's clock may be ahead of an answer's Date in step with it: the Date's second is cut to a whole
# one, and the answer takes a moment to come back.
_DATE_SLACK = 2.0


class WaitAllowance:
    """What a command's reads may wait out in 429s in all, `seconds`: one for the command, shared by every read's
    client (each read has its own), each wait taken from it before it is begun. Locked: reads may run on threads."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._spent = 0.0
        self._lock = threading.Lock()

    def left(self) -> float:
        with self._lock:
            return max(self.seconds - self._spent, 0.0)

    def take(self, seconds: float) -> bool:
        """Take `seconds` if that many are left (the wait may begin); False, taking nothing, if not."""
        with self._lock:
            if self._spent + seconds > self.seconds:
                return False
            self._spent += seconds
            return True


@dataclass(frozen=True)
class RateLimitWaits:
    """How long a 429 may be waited out: `most_seconds` in all, and never past `deadline` (the job's, read on
    `clock`, when it has one) but for the LATE_SECONDS a read may always wait. `wall` is what X-RateLimit-Reset (epoch
    seconds, Alpaca's clock) is read against and `sleep` how the wait is spent: both real time, but for tests, which
    step a fake's time instead. `allowance`: what the whole command may wait in all, these waits' and its other reads'
    (a command run by hand's BY_HAND_SECONDS); None, no bound but these."""

    most_seconds: float = MOST_SECONDS
    deadline: datetime | None = None
    allowance: WaitAllowance | None = None
    clock: Clock = field(default_factory=SystemClock)
    wall: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    # When these waits were set (on `wall`; a copy made with another deadline is set anew): a clock that does not
    # read real time (LLMTRADE_NOW's fixed one) stands still while the job waits, and the deadline never came nearer.
    since: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", self.wall())

    def now(self) -> datetime:
        """The job's time now: its clock's, and on a clock that does not read real time, the real time passed since
        these waits were set added (the job's waits and its work, which such a clock does not count)."""
        now = self.clock.now()
        return now if self.clock.real else now + timedelta(seconds=max(self.wall() - self.since, 0.0))

    def budget(self, waited: float = 0.0) -> tuple[float, str]:
        """The longest wait allowed now, after `waited` seconds the same read waited already, and what sets it, for a
        message ("the 90 s llmtrade waits at most"): what is left of the most, or the time left before the deadline
        (which the waits already spent have brought nearer, so they are not counted against it a second time), or, when
        that is less, what is left of the LATE_SECONDS a read may always wait; and never more than is left of the
        command's `allowance` (no LATE_SECONDS past it: it is the command's whole bound, not a job's slot)."""
        room, bound = self.most_seconds - waited, f"the {self.most_seconds:g} s llmtrade waits at most"
        if self.deadline is not None:
            left = max((self.deadline - self.now()).total_seconds(), 0.0)
            least = min(LATE_SECONDS, self.most_seconds)  # never more than the most
            when = f"{self.deadline:%Y-%m-%d %H:%M %Z}"
            if least - waited > left:
                room, bound = least - waited, f"the {least:g} s a read may wait in all past the job's deadline ({when})"
            elif left < room:
                room, bound = left, f"the {left:.0f} s left before the job's deadline ({when})"
        if self.allowance is not None and (left := self.allowance.left()) < room:
            most = self.allowance.seconds
            room, bound = left, f"the {left:.0f} s left of the {most:g} s a command run by hand waits in all"
        return max(room, 0.0), bound

    def take(self, seconds: float) -> bool:
        """Whether a wait of `seconds` may begin, taken from the command's allowance when it has one."""
        return self.allowance is None or self.allowance.take(seconds)


@dataclass(frozen=True)
class RefusedWait:
    """A 429 not waited out: the wait Alpaca asked for, and the bound it passed (`RateLimitWaits.budget`)."""

    asked: float
    bound: str
    waited: float = 0.0  # the earlier 429s' waits of the same read
    until: float | None = None  # the epoch second the wait ends (this machine's clock): when to try again

    def said(self) -> str:
        if self.waited:
            text = f"Alpaca asked to wait {self.asked:.0f} s more after {self.waited:.0f} s, past {self.bound}"
        else:
            text = f"Alpaca asked to wait {self.asked:.0f} s, longer than {self.bound}"
        return text if self.until is None else f"{text}; try again from {utc_second(self.until)}"


def utc_second(epoch: float) -> str:
    """An epoch second as a reader's time to try again from: "2026-01-07 16:05:01 UTC" (rounded up)."""
    return f"{datetime.fromtimestamp(math.ceil(epoch), UTC):%Y-%m-%d %H:%M:%S} UTC"


def reset_said(headers: Mapping[str, str], now: float) -> str:
    """What a 429 the client did not wait out says of when to try again, for a message: "Alpaca's rate limit (200 a
    minute) resets at ... (in 40 s)" from its headers, or that it named no time (a proxy's 429 carries none)."""
    wait = asked_wait(headers, now)
    if wait is None:
        return "Alpaca named no time to try again (no X-RateLimit-Reset or Retry-After)"
    limit = _number(headers.get("X-RateLimit-Limit"))
    per = f" ({limit:g} requests a minute)" if limit is not None else ""
    return f"Alpaca's rate limit{per} resets at {utc_second(now + wait)} (in {wait:.0f} s)"


def asked_wait(headers: Mapping[str, str], now: float) -> float | None:
    """The seconds a 429's headers ask to wait: until X-RateLimit-Reset (Alpaca's epoch second), or a Retry-After
    (seconds, or an HTTP date), the later of the two; None when they say nothing usable. An instant is read against
    epoch second `now`, this machine's clock, unless the answer's Date (Alpaca's clock, a whole second) says that
    clock is off: then against the Date. A clock a minute behind Alpaca's waited a minute too long, or refused a wait
    that fitted the bound; one ahead asked again before the window had ended."""
    waits: list[float] = []
    said_at = http_instant(headers.get("Date"))
    if said_at is not None and not 0.0 <= now - said_at < _DATE_SLACK:
        now = said_at
    reset = _number(headers.get("X-RateLimit-Reset"))
    if reset is not None:
        waits.append(reset - now)
    if (after := retry_after_seconds(headers.get("Retry-After"), now)) is not None:
        waits.append(after)
    return max(0.0, *waits) + _MARGIN if waits else None


def waits_out_rate_limits(
    session: Any,
    timeout_seconds: float,
    attempts: int,
    fallback_seconds: float | None,
    waits: RateLimitWaits,
    *,
    resent: frozenset[str] | None = None,
) -> None:
    """Mount on `session` an adapter that gives every request `timeout_seconds` (alpaca_http.impose_timeout's) and
    answers a 429 as this module says: up to `attempts` times, waiting what Alpaca asked (`fallback_seconds` when it
    asked nothing; None: a 429 that names no wait is not waited), all within `waits`' bound. A 429 it gives up on
    reaches alpaca-py as it came, with `refused_wait` (a RefusedWait) set when the bound, not the attempts, stopped it.
    `resent`: the HTTP methods sent again after the wait (None: every one); a 429 of any other is waited out once
    and comes back as it came, `waited_out` (the seconds waited) set on it: its caller decides what to send next."""
    adapter = _adapter_class()(timeout_seconds, attempts, fallback_seconds, waits, resent)
    session.mount("https://", adapter)
    session.mount("http://", adapter)


@cache
def _adapter_class() -> type:
    # lazy, as alpaca_http's timeout adapter: requests comes in with alpaca-py
    from llmtrade.market.alpaca_http import timeout_adapter_class

    class RateLimitAdapter(timeout_adapter_class()):  # type: ignore[misc]
        def __init__(
            self,
            timeout_seconds: float,
            attempts: int,
            fallback: float | None,
            waits: RateLimitWaits,
            resent: frozenset[str] | None,
        ):
            super().__init__(timeout_seconds)
            self.attempts, self.fallback, self.waits, self.resent = attempts, fallback, waits, resent
            # Every wait of this session's requests: a data client (and its session) is made for one read, whose
            # pages and alpaca-py's retries are requests of their own, and the bound is the read's, not each one's.
            self.waited = 0.0

        def send(self, request: Any, *args: Any, **kwargs: Any) -> Any:
            for attempt in range(self.attempts + 1):
                response = super().send(request, *args, **kwargs)
                if response.status_code != 429 or attempt == self.attempts:
                    return response
                now = self.waits.wall()
                wait = asked_wait(response.headers, now)
                wait = self.fallback if wait is None else wait
                if wait is None:
                    return response
                room, bound = self.waits.budget(self.waited)
                if wait > room or not self.waits.take(wait):  # another read may have taken the allowance since
                    response.refused_wait = RefusedWait(wait, bound, self.waited, now + wait)
                    return response
                _log.info(
                    "alpaca answered HTTP 429 (rate limit%s) to %s %s: waiting %.0f s, until %s, %s; within %s",
                    _per_minute(response.headers),
                    request.method,
                    request.url.split("?", 1)[0],
                    wait,
                    utc_second(now + wait),
                    _named_by(response.headers, self.fallback),
                    bound,
                )
                self.waits.sleep(wait)
                self.waited += wait
                if self.resent is not None and request.method not in self.resent:
                    response.waited_out = wait
                    return response
                response.close()
            return response

    return RateLimitAdapter


def _per_minute(headers: Mapping[str, str]) -> str:
    limit = _number(headers.get("X-RateLimit-Limit"))
    return f", {limit:g} requests a minute" if limit is not None else ""


def _named_by(headers: Mapping[str, str], fallback: float | None) -> str:
    """Which of a 429's headers the wait is Alpaca's word from, for the line that says it (`asked_wait`'s)."""
    named = [h for h in ("X-RateLimit-Reset", "Retry-After") if headers.get(h)]
    if not named:
        return f"the {fallback:g} s waited when no X-RateLimit-Reset or Retry-After names a time"
    return f"as its {' and '.join(named)} says"


def _number(text: str | None) -> float | None:
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None
