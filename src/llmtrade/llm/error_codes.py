"""What an error object inside a provider's 200 stands for, read alike by the chat client (llm/http_client.py), ask's
turn (llm/tool_reply.py) and the embeddings client (llm/embeddings.py): the HTTP status its code or words mean
(`error_status`), whether it is a rate limit, and whether the attempt it ended generated (and so billed) anything.
What a status then means is llm/http_errors.refusal's."""

from __future__ import annotations

import re
from typing import Any


def generating(status: int | None) -> bool:
    """Whether an attempt cut off after `status` came back was being generated (and so billed) by the provider."""
    return status is not None and 200 <= status < 300


# The statuses of an error inside a 200 that refuses to begin: a rate limit (429) or an overload (503, Anthropic's
# overloaded_error 529). Such a refusal generated nothing, so it bills nothing, unlike an error mid-answer.
REFUSED_TO_BEGIN = frozenset({429, 503, 529})
_GENERATED = ("content", "reasoning", "reasoning_content", "tool_calls", "refusal")


def refused_to_begin(code: int, data: Any, *, stream: bool) -> bool:
    """Whether an error inside a 200 whose status is `code` (`error_status`) generated nothing: a rate limit or an
    overload (REFUSED_TO_BEGIN) in a body that is not an event stream (a stream's 200 came as the model began) and
    whose choices hold nothing written (content, reasoning, tool calls). Any other error after the 200 is billed."""
    if code not in REFUSED_TO_BEGIN or stream:
        return False
    choices = data.get("choices") if isinstance(data, dict) else None
    for choice in choices if isinstance(choices, list) else []:
        said = (choice.get("message") or choice.get("delta")) if isinstance(choice, dict) else None
        if isinstance(said, dict) and any(said.get(key) for key in _GENERATED):
            return False
    return True


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


# Words providers put in an error object where a number would be, read as the HTTP status they stand for: OpenAI's
# `code` and `type` (rate_limit_exceeded, insufficient_quota, context_length_exceeded, invalid_request_error,
# server_error), Anthropic's `type` (rate_limit_error, overloaded_error, request_too_large), Google's `status`
# (RESOURCE_EXHAUSTED, INVALID_ARGUMENT, UNAVAILABLE). A word not listed says nothing: an upstream failure.
_WORD_STATUS = {
    "rate_limit_exceeded": 429,
    "rate_limit_error": 429,
    "rate_limited": 429,
    "too_many_requests": 429,
    "resource_exhausted": 429,
    "insufficient_quota": 429,
    "context_length_exceeded": 400,
    "string_above_max_length": 400,
    "invalid_request_error": 400,
    "invalid_argument": 400,
    "failed_precondition": 400,
    "request_too_large": 413,
    "invalid_api_key": 401,
    "authentication_error": 401,
    "unauthenticated": 401,
    "permission_error": 403,
    "permission_denied": 403,
    "model_not_found": 404,
    "not_found_error": 404,
    "not_found": 404,
    "server_error": 500,
    "internal_error": 500,
    "internal": 500,
    "api_error": 500,
    "overloaded_error": 529,
    "unavailable": 503,
    "deadline_exceeded": 504,
}
_RATE_WORDS = re.compile(r"rate[ _-]?limit|too many requests", re.IGNORECASE)


def is_rate_limit(error: dict[str, Any]) -> bool:
    """Whether an error object is a rate limit: code 429, a word code, type or status that means one
    ("rate_limit_exceeded", "RESOURCE_EXHAUSTED"), or a message that says so ("Rate limit reached", "Too many
    requests")."""
    if error_code(error) == 429:
        return True
    words = [str(error.get(key) or "") for key in ("code", "type", "status")]
    if any(_WORD_STATUS.get(word.strip().lower()) == 429 for word in words):
        return True
    return any(_RATE_WORDS.search(text) for text in (*words, str(error.get("message") or "")))


def error_status(error: dict[str, Any]) -> int | None:
    """The HTTP status an error object inside a 200 stands for (at the body's top or on a choice): 429 for a rate
    limit in any words (`is_rate_limit`), else its numeric code, else the status its word code, type or status
    means (_WORD_STATUS); None when it names none (an upstream failure, temporary)."""
    if is_rate_limit(error):
        return 429
    code = error_code(error)
    if code is not None:
        return code
    for key in ("code", "type", "status"):
        found = _WORD_STATUS.get(str(error.get(key) or "").strip().lower())
        if found is not None:
            return found
    return None
