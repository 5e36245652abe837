"""A provider's error body that is not JSON, as a reason to show (llm/http_errors.py and the clients read it): a
proxy's or CDN's HTML error page by its title and heading, anything else by its start; and whether a 404 came from a
server's router (no such path) rather than from the provider (no such model); and what a 400 says: the most output
tokens the model takes, a prompt past its context window (and the room it leaves), a refused key or caller's
region."""

from __future__ import annotations

import html
import json
import re

import httpx

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_HEADING = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def body_text(response: httpx.Response) -> str:
    """A body that is not JSON, as a reason to show. A proxy's or CDN's error page (Cloudflare's 502 or 524, nginx's
    504) opens with a doctype and conditional comments that say nothing: it is shown by its title and first heading
    ("an HTML page: openrouter.ai | 502: Bad gateway / Bad gateway Error code 502"); anything else by its first 200
    characters."""
    text = response.text
    if "<html" in text[:2000].lower():
        said: list[str] = []
        for pattern in (_TITLE, _HEADING):
            found = pattern.search(text)
            words = " ".join(html.unescape(_TAG.sub(" ", found.group(1))).split()) if found else ""
            if words and words not in said:
                said.append(words)
        if said:
            return f"an HTML page: {' / '.join(said)}"[:300]
    # A NUL byte (a binary or mis-decoded body) is no text PostgreSQL stores: read as U+FFFD (storage/storable_text.py).
    return text[:200].replace("\x00", "\ufffd") or response.reason_phrase


# The words of a provider's own error object for a path it does not serve, not a model it lacks: Anthropic's
# {"type": "error", "error": {"type": "not_found_error", "message": "Not Found"}} (a base_url without its /v1), OpenAI's
# "Invalid URL (POST /chat/completions)". A model it lacks is named ("model: claude-x", "The model `x` does not exist").
_NO_SUCH_PATH = re.compile(r"^(?:not found|invalid url \(\w+ /[^)]*\))$", re.IGNORECASE)


def no_such_path(response: httpx.Response) -> str | None:
    """The URL of a 404 a server's router sent for a path it does not serve (a base_url missing its /v1: Ollama's Gin
    answers "404 page not found", vLLM's FastAPI {"detail": "Not Found"}, a proxy an HTML page, Anthropic's and
    OpenAI's error objects in _NO_SUCH_PATH's words), else None: a 404 in the provider's own error object otherwise
    names a model or endpoint it lacks."""
    if response.status_code != 404:
        return None
    try:
        data = response.json()
    except ValueError:
        data = None  # plain text or an HTML page: no provider's error object
    error = data.get("error") if isinstance(data, dict) else None
    said = error.get("message") if isinstance(error, dict) else data.get("detail") if isinstance(data, dict) else None
    if data is not None and not (isinstance(said, str) and _NO_SUCH_PATH.match(said.strip())):
        return None
    try:
        return str(response.request.url)
    except RuntimeError:  # a response built with no request (never sent): the path is unknown
        return "the provider's base_url"


# How a 400 names the most output tokens a model takes, when max_tokens asked more: OpenAI's "max_tokens is too large:
# 32768. This model supports at most 16384 completion tokens", Anthropic's "max_tokens: 32768 > 16384, which is the
# maximum allowed number of output tokens for ...", DeepSeek's "the valid range of max_tokens is [1, 8192]".
_MOST_TOKENS = re.compile(
    r"supports at most (\d+) completion tokens"
    r"|max_tokens: \d+ > (\d+), which is the maximum allowed"
    r"|valid range of max_tokens is \[\d+, ?(\d+)\]",
    re.IGNORECASE,
)
# Google's, whose bound is exclusive: "Unable to submit request because it has a maxOutputTokens value of 16000 but the
# supported range is from 1 (inclusive) to 8193 (exclusive)": the most is 8192.
_MOST_BELOW = re.compile(
    r"maxOutputTokens value of \d+ but the supported range is from \d+ \(inclusive\) to (\d+) \(exclusive\)"
)


def most_output_tokens(status: int, reason: str) -> int | None:
    """The most output tokens a 400 whose reason is `reason` says the model takes (_MOST_TOKENS, _MOST_BELOW), else
    None."""
    if status != 400:
        return None
    if (below := _MOST_BELOW.search(reason)) is not None:
        return int(below.group(1)) - 1
    found = _MOST_TOKENS.search(reason)
    return int(next(group for group in found.groups() if group)) if found else None


# How a 400 says the prompt (with max_tokens) does not fit the model's context window: OpenAI's and vLLM's "This
# model's maximum context length is N tokens" (code context_length_exceeded), OpenRouter's "This endpoint's maximum
# context length is N tokens", Anthropic's "prompt is too long: N tokens > M maximum", Gemini's "The input token count
# (N) exceeds the maximum number of tokens allowed (M)", vLLM's v1 engine's "The decoder prompt (length N) is longer
# than the maximum model length of M". The same failure as a reply whose window filled (replies._CONTEXT_FULL), sent
# before anything was generated.
_CONTEXT_FULL = re.compile(
    r"maximum context length is \d+|context_length_exceeded|prompt is too long"
    r"|input token count \(?\d+\)? exceeds the maximum|longer than the maximum model length of \d+",
    re.IGNORECASE,
)
# The window such a refusal names, in each of those wordings.
_WINDOW_SAID = re.compile(
    r"maximum context length is (\d+)|maximum model length of (\d+)|maximum number of tokens allowed \((\d+)\)"
    r"|tokens > (\d+) maximum",
    re.IGNORECASE,
)


def context_full(status: int, reason: str, body: str) -> bool:
    """Whether a 400 (its `reason` shown, its whole `body`) says the prompt does not fit the context window."""
    return status == 400 and bool(_CONTEXT_FULL.search(reason) or _CONTEXT_FULL.search(body[:10000]))


def window_said(reason: str) -> int | None:
    """The context window, in tokens, a refusal's words name (_WINDOW_SAID), else None."""
    found = _WINDOW_SAID.search(reason)
    return int(next(group for group in found.groups() if group)) if found else None


# Google refuses a key not valid, expired or unknown with a 400 INVALID_ARGUMENT (its ErrorInfo reason API_KEY_INVALID),
# where the others send a 401: a refused key all the same (LLMAuthRejected, never held for a rerun after the fix).
_KEY_REFUSED = re.compile(r"API_KEY_INVALID|API key (?:not valid|expired|not found)", re.IGNORECASE)


def key_refused(status: int, reason: str, body: str) -> bool:
    """Whether a 400 (its `reason` shown, its whole `body`) refuses the key (_KEY_REFUSED)."""
    return status == 400 and bool(_KEY_REFUSED.search(reason) or _KEY_REFUSED.search(body[:10000]))


# Google's refusal of the caller's region (400 FAILED_PRECONDITION, "User location is not supported for the API use."),
# also relayed by OpenRouter in its metadata.raw: the account's place, not the request.
_LOCATION = re.compile(r"User location is not supported", re.IGNORECASE)


def location_refused(status: int, reason: str, body: str) -> bool:
    """Whether a 400 (its `reason` shown, its whole `body`) refuses the region the call comes from."""
    return status == 400 and bool(_LOCATION.search(reason) or _LOCATION.search(body[:10000]))


# How a 400 names the window and the prompt's tokens when the prompt and max_tokens do not fit it together: OpenRouter's
# "This endpoint's maximum context length is X tokens. However, you requested about Y tokens (A of text input, T of
# tool input, B in the output)", vLLM's "(A in the messages, B in the completion)" or "your request has A input
# tokens". Its estimate is "about": the room left is taken short by a margin.
_WINDOW = re.compile(r"maximum context length is (\d+) tokens", re.IGNORECASE)
_INPUT = re.compile(r"(\d+) of [\w ]*?input\b|(\d+) in the messages|your request has (\d+) input tokens", re.IGNORECASE)
_MARGIN = 0.02  # of the input's tokens: their count is an estimate
_LEAST_ROOM = 256  # fewer tokens than this answer nothing usable: the prompt itself is too long


def room_left(status: int, reason: str, sent: int) -> int | None:
    """The max_tokens that fits beside the prompt a 400 (`reason`) says `sent` did not: the window less the input's
    tokens and a margin; None when the 400 names no window and input, or the room is below _LEAST_ROOM or not below
    `sent` (lowering cannot help: the prompt is too long)."""
    window = _WINDOW.search(reason) if status == 400 else None
    inputs = [int(next(g for g in m.groups() if g)) for m in _INPUT.finditer(reason)] if window else []
    if window is None or not inputs:
        return None
    used = sum(inputs)
    room = int(window.group(1)) - used - max(int(used * _MARGIN), 32)
    return room if _LEAST_ROOM <= room < sent else None


# A prompt a provider's content filter refused before generating anything, as a 400: OpenAI's invalid_request_error
# code "invalid_prompt" ("Invalid prompt: your prompt was flagged as potentially violating our usage policy"), Azure
# OpenAI's code "content_filter" with innererror {"code": "ResponsibleAIPolicyViolation", "content_filter_result":
# {category: {"filtered": true, ...}}}; also as OpenRouter relays either in metadata.raw (a JSON string, quotes
# escaped).
_PROMPT_FILTERED = re.compile(
    r'\\?"code\\?"\s*:\s*\\?"(invalid_prompt|content_filter)\\?"|ResponsibleAIPolicyViolation', re.IGNORECASE
)


def prompt_filtered(status: int, response: httpx.Response) -> str | None:
    """What refused the prompt when a 400 is a content filter's (_PROMPT_FILTERED): the code and, for Azure, the
    categories it filtered ("content_filter: jailbreak, hate (medium)"); else None."""
    if status != 400:
        return None
    found = _PROMPT_FILTERED.search(response.text[:20000])
    if found is None:
        return None
    code = found.group(1) or "content_filter"
    try:
        data = response.json()
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    inner = error.get("innererror") if isinstance(error, dict) else None
    result = inner.get("content_filter_result") if isinstance(inner, dict) else None
    named = [
        f"{name} ({verdict['severity']})" if isinstance(verdict.get("severity"), str) else str(name)
        for name, verdict in (result.items() if isinstance(result, dict) else ())
        if isinstance(verdict, dict) and verdict.get("filtered") is True
    ]
    return f"{code}: {', '.join(named)}" if named else code


# Ollama's 500 for a conversation with no user turn left (ollama/ollama#18107): past num_ctx it drops the oldest
# messages to fit, and the chat template then finds no user message ("chat prompt error: no user query found in
# messages", also from its /v1 endpoints). The template's words (Qwen3's raise_exception) come as vLLM's 400 and
# llama.cpp's 500 too, where a proxy before the server dropped messages to fit a window. The same conversation is cut
# the same way again: no wait mends it.
NO_USER_QUERY = re.compile(r"no user query found in messages", re.IGNORECASE)


def user_sent(response: httpx.Response) -> bool | None:
    """Whether the chat request `response` answers carried a user message; None when its body tells nothing (no
    request kept, not JSON, no messages: an embeddings request)."""
    try:
        body = json.loads(response.request.content)
    except (RuntimeError, ValueError, TypeError):
        return None
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list):
        return None
    return any(isinstance(message, dict) and message.get("role") == "user" for message in messages)
