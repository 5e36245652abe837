"""A Retry-After header read one way for every HTTP client here (the model providers' in llm/, Alpaca's market data in
market/): delay-seconds or an HTTP-date (RFC 9110, section 10.2.3), and an HTTP-date as an epoch second."""

from __future__ import annotations

import math
from datetime import UTC
from email.utils import parsedate_to_datetime


def http_instant(text: str | None) -> float | None:
    """An HTTP date's epoch second (GMT, as HTTP dates are, also when it says -0000); None when `text` is none."""
    if not text:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return (when if when.tzinfo is not None else when.replace(tzinfo=UTC)).timestamp()


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """The seconds a Retry-After `value` asks to wait, from epoch second `now` (negative for a date already past);
    None when it says nothing usable (absent, not a number nor a date, or not a finite number)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        until = http_instant(value)
        return None if until is None else until - now
    return seconds if math.isfinite(seconds) else None
