"""What an OpenAI-compatible provider's error says, read the same way by the chat client (llm/http_client.py) and
the embeddings client (llm/embeddings.py): an in-body error's code, a 402's limit and what fixes it, Retry-After, a
daily quota's words, the reason to show."""

from __future__ import annotations

import email.utils
import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from llmtrade.errors import LLMOutOfCredits
from llmtrade.llm.replies import error_detail

# Words of a rate limit that resets on a calendar, not in seconds (OpenRouter's free-models-per-day,
# OpenAI's "exceeded your current quota", Gemini's per-day limits): waiting inside the run is pointless.
QUOTA = re.compile(
    r"per[ -]?day|daily|\bRPD\b|quota|billing|insufficient[_ ]credits|limit_rpd|free-models-per-day", re.IGNORECASE
)


def generating(status: int | None) -> bool:
    """Whether an attempt cut off after `status` came back was being generated (and so billed) by the provider."""
    return status is not None and 200 <= status < 300


def error_code(error: dict[str, Any]) -> int | None:
    """An error object's numeric code (OpenRouter's mirrors the HTTP status: 400, 400.0 or "400"), or None for a
    word code."""
    code = error.get("code")
    if isinstance(code, bool):
        return None
    try:
        number = float(str(code).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def is_rate_limit(error: dict[str, Any]) -> bool:
    return error_code(error) == 429 or "rate limit" in str(error.get("message", "")).lower()


def limit_source_of(found: httpx.Response | dict[str, Any]) -> str | None:
    """OpenRouter's `error.metadata.limit_source` of a 402 (which limit ran out), from a response or an error."""
    error: Any = found
    if isinstance(found, httpx.Response):
        try:
            error = (found.json() or {}).get("error")
        except (ValueError, AttributeError):
            return None
    metadata = error.get("metadata") if isinstance(error, dict) else None
    source = metadata.get("limit_source") if isinstance(metadata, dict) else None
    return str(source) if source else None


def out_of_credits(provider: str, model: str, reason: str, limit_source: str | None) -> LLMOutOfCredits:
    """A 402's error with what fixes it: the key's own spending limit (limit_source naming the key) is raised in the
    key's settings; otherwise the account needs credits."""
    if limit_source and "key" in limit_source.lower():
        return LLMOutOfCredits(
            f"the API key's spending limit at {provider} is reached: raise the key's limit ({reason} for {model}); "
            "a rerun after that asks again"
        )
    return LLMOutOfCredits(
        f"insufficient credits at {provider}: add credits ({reason} for {model}); a rerun after the top-up asks again"
    )


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return (when - datetime.now(UTC)).total_seconds()


def error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(data, dict) and data.get("error"):
        # The message plus OpenRouter's metadata (provider_name, raw): the real reason lives there.
        return error_detail(data["error"])
    if isinstance(data, dict) and isinstance(data.get("detail"), str):  # vLLM / FastAPI style
        return data["detail"][:300]
    return json.dumps(data)[:300]
