"""How long an OpenAI-compatible provider's refusal asks to wait: its retry-after-ms or Retry-After header, its
X-RateLimit-Reset (the response's own, or OpenRouter's copy in the error's metadata), or a wait its body names in
words. llm/http_errors.py `refusal` reads them to decide whether a rate limit is waited out or fails at once."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from llmtrade.retry_after import retry_after_seconds

# A wait a 429's body names when no Retry-After header does: Google's RetryInfo `"retryDelay": "26s"` (also inside
# OpenRouter's metadata.raw, its quotes escaped), "Please retry in 36.4s", OpenAI's and Groq's "Please try again in
# 2s" (or "in 120ms", or a Go duration past a minute: "in 1m26.4s", "in 22m27.84s", "in 2h3m"), "retry after 20
# seconds", "Your quota will reset after 27s".
BODY_WAIT = re.compile(
    r"retryDelay\W{1,12}(\d+(?:\.\d+)?)s"
    r"|(?:retry|try again) (?:in|after) ((?:\d+(?:\.\d+)?(?:h|ms|m|s)(?![a-z]))+|\d+(?:\.\d+)? ?(?:secs?|seconds?)\b)"
    r"|reset after (\d+(?:\.\d+)?) ?s\b",
    re.IGNORECASE,
)
# One "<number><unit>" of a Go duration ("1m26.4s" is 1m and 26.4s), or a number of seconds in words ("20 seconds").
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?) ?(h|ms|m|s)", re.IGNORECASE)
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def error_metadata(found: httpx.Response | dict[str, Any]) -> dict[str, Any]:
    """OpenRouter's `error.metadata` (what the provider and its limits said), from a response or an error; {} when
    there is none (a body that is not JSON, no error object)."""
    error: Any = found
    if isinstance(found, httpx.Response):
        try:
            error = (found.json() or {}).get("error")
        except (ValueError, AttributeError):
            return {}
    metadata = error.get("metadata") if isinstance(error, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def retry_after(response: httpx.Response) -> float | None:
    """The seconds `response` asks to wait: its retry-after-ms header, read first as openai-python reads it, else its
    Retry-After (llmtrade/retry_after.py); None when it says none."""
    millis = retry_after_seconds(response.headers.get("retry-after-ms"), 0.0)
    if millis is not None and millis >= 0:
        return millis / 1000
    return retry_after_seconds(response.headers.get("retry-after"), time.time())


def reset_wait(response: httpx.Response) -> float | None:
    """The seconds until a rate limit's window resets, by X-RateLimit-Reset: the response's own header, or the copy of
    its headers OpenRouter puts in the error's metadata.headers (a 429 of its own limits, such as 20 requests a minute
    for a free model, sends no Retry-After). An instant in epoch milliseconds (OpenRouter's) or seconds, or a count of
    seconds; None when none is given."""
    value = response.headers.get("x-ratelimit-reset")
    if value is None:
        headers = error_metadata(response).get("headers")
        if not isinstance(headers, dict):
            return None
        value = next((str(v) for k, v in headers.items() if str(k).lower() == "x-ratelimit-reset"), None)
    reset = retry_after_seconds(value, 0.0)
    if reset is None:
        return None
    now = time.time()
    if reset > 1e11:  # epoch milliseconds
        return max(reset / 1000 - now, 0.0)
    return max(reset - now, 0.0) if reset > 1e9 else reset


def body_wait(text: str) -> float | None:
    """The seconds a rate limit's body asks to wait (BODY_WAIT), the longest it names; None when it names none."""
    waits = []
    for match in BODY_WAIT.finditer(text):
        delay, retry, reset = match.groups()
        if delay or reset:
            waits.append(float(delay or reset))
        else:
            parts = _DURATION_PART.findall(retry)
            waits.append(sum(float(number) * _UNIT_SECONDS[unit.lower()] for number, unit in parts))
    return max(waits) if waits else None
