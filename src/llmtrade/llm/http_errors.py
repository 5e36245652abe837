"""What an OpenAI-compatible provider's error says, read the same way by the chat client (llm/http_client.py) and
the embeddings client (llm/embeddings.py): a 402's limit and what fixes it, a daily quota's words, the reason to show,
and the error a status means (`refusal`). The status an error inside a 200 stands for is read in llm/error_codes.py;
how long a refusal asks to wait (Retry-After and kin) in llm/provider_waits.py."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from llmtrade.errors import (
    LLMAuthRejected,
    LLMLocationRefused,
    LLMNoEndpoint,
    LLMOutOfCredits,
    LLMRateLimited,
    LLMRequestRejected,
    LLMServerOutOfMemory,
    StructuredOutputRefused,
)
from llmtrade.llm.body_errors import error_detail
from llmtrade.llm.error_pages import (
    NO_USER_QUERY,
    body_text,
    context_full,
    key_refused,
    location_refused,
    no_such_path,
    prompt_filtered,
    user_sent,
    window_said,
)
from llmtrade.llm.provider_waits import body_wait, error_metadata, reset_wait, retry_after
from llmtrade.reply_errors import LLMContentFiltered, LLMContextExceeded
from llmtrade.storage.storable_text import storable_parsed

# Words of a rate limit that resets on a calendar day (OpenRouter's free-models-per-day, Gemini's quota ids such as
# GenerateRequestsPerDayPerProjectPerModel-FreeTier, "per day", "daily", RPD): waiting inside the run is pointless.
DAILY = re.compile(r"per[ _-]?day|daily|\bRPD\b|limit_rpd|free-models-per-day", re.IGNORECASE)
# Words of an account out of money or quota (OpenAI's insufficient_quota: "You exceeded your current quota, please
# check your plan and billing details"): a top-up mends it, not a wait. Gemini words its per-minute limits the same
# way, but names the wait (google.rpc.RetryInfo), so these fail at once only when no wait is named.
BILLING = re.compile(
    r"insufficient[_ ]quota|exceeded your current quota|billing|insufficient[_ ]credits", re.IGNORECASE
)
# An account with no credit refused as a bad request: Anthropic's 400 invalid_request_error "Your credit balance is too
# low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits." (its OpenAI-compatible
# endpoint too), where the others send a 402: out of credits all the same, mended by a top-up, not by a changed request.
NO_CREDIT = re.compile(r"credit balance is too low", re.IGNORECASE)
# A quota of none (Google's "Quota exceeded for metric: ...free_tier_requests, limit: 0": the plan gives the model no
# quota at all), though it names a wait of seconds: the wait never mends it.
NO_QUOTA = re.compile(r"\blimit: 0(?![\d.])")
# A model its server cannot hold: Ollama's 500 "model requires more system memory (7.3 GiB) than is available (6.0 GiB)"
# (ollama/ollama#4486). The same request meets the same machine: no wait within the run mends it.
NO_MEMORY = re.compile(r"requires more system memory .* than is available", re.IGNORECASE)


def limit_source_of(found: httpx.Response | dict[str, Any]) -> str | None:
    """OpenRouter's `error.metadata.limit_source` of a 402 (which limit ran out), from a response or an error."""
    source = error_metadata(found).get("limit_source")
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


def cut_off_reason(exc: BaseException, deadline: float, timeout: float, max_tokens: int) -> str:
    """Why an attempt got no whole answer: its `deadline` (seconds for the whole attempt, room for `max_tokens`) or
    httpx's per-read `timeout` passed, the connection failed, or the body could not be read."""
    if isinstance(exc, TimeoutError):
        return f"no whole answer within {deadline:g} s (the attempt's deadline for {max_tokens} tokens)"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, httpx.TransportError):
        return f"connection failed: {exc or type(exc).__name__}"
    return f"unreadable response: {exc or type(exc).__name__}"  # a body that cannot be decoded: a failed call


def _flagged(response: httpx.Response) -> str | None:
    """The reasons of OpenRouter's moderation refusal (a 403 whose error's metadata has `reasons` or `flagged_input`:
    openrouter.ai/docs/api-reference/errors), else None (a 403 of the key or the account)."""
    metadata = error_metadata(response)
    if not (metadata.get("reasons") or metadata.get("flagged_input")):
        return None
    reasons = metadata.get("reasons")
    return ", ".join(map(str, reasons)) if isinstance(reasons, list) and reasons else "no reason given"


_UNSUPPORTED = re.compile(r"unsupported|not supported|does not support", re.IGNORECASE)


def refused_parameter(status: int, response: httpx.Response) -> str | None:
    """The request parameter a 400 says the model takes in another form, else None: "max_tokens" (OpenAI's reasoning
    models, gpt-5 and o-series: "Unsupported parameter: 'max_tokens' is not supported with this model. Use
    'max_completion_tokens' instead.", param max_tokens) or "temperature" ("Unsupported value: 'temperature' does
    not support 0.7 with this model. Only the default (1) value is supported.", param temperature)."""
    if status != 400:
        return None
    text = error_text(response)
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    param = error.get("param") if isinstance(error, dict) else None
    # Refused as a parameter, not as a number: vLLM's "'max_tokens' or 'max_completion_tokens' is too large: 8000. This
    # model's maximum context length is 4096 tokens ..." names both and is about the window (error_pages.room_left).
    if (
        "max_completion_tokens" in text
        and (param == "max_tokens" or "'max_tokens'" in text)
        and _UNSUPPORTED.search(text)
    ):
        return "max_tokens"
    if (param == "temperature" or "'temperature'" in text) and _UNSUPPORTED.search(text):
        return "temperature"
    return None


def error_text(response: httpx.Response) -> str:
    try:
        data = storable_parsed(response.json(), response.text)  # words a call's event can hold
    except ValueError:
        return body_text(response)
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        data = data[0]  # Google's OpenAI-compatible endpoint wraps its error in a list: [{"error": {...}}]
    if isinstance(data, dict) and data.get("error"):
        # The message plus OpenRouter's metadata (provider_name, raw): the real reason lives there.
        return error_detail(data["error"])
    if isinstance(data, dict) and data.get("object") == "error" and isinstance(data.get("message"), str):
        return error_detail(data)  # the error object as the whole body: vLLM's ErrorResponse, Mistral's
    if isinstance(data, dict) and isinstance(data.get("detail"), str):  # vLLM / FastAPI style
        return data["detail"][:300]
    return json.dumps(data)[:300]


# How providers word a refusal of response_format or one of the schema's keywords.
FORMAT_REFUSED = re.compile(
    r"response_format|json_schema|json[ _]schema|structured[ _-]?output|json[ _]mode|json_object|strict"
    r"|guided[ _]decoding|grammar|schema|additionalProperties|requested parameters",
    re.IGNORECASE,
)


# OpenRouter's 404 when `provider.require_parameters` leaves no endpoint of the model that takes every parameter sent
# (openrouter.ai/docs/features/provider-routing): the response format, or a sampling setting beside it (temperature,
# which reasoning models' endpoints do not list: CultivateLabs/raif#507).
NO_ROUTE = re.compile(r"No endpoints found that (?:can handle|support) the requested parameters", re.IGNORECASE)


# Google's 400 that names nothing (INVALID_ARGUMENT "Request contains an invalid argument."): its OpenAI-compatible
# endpoint refuses so a response_format schema it cannot take (a union: googleapis/google-api-python-client#2570).
# With a schema on the wire, the schema is the likeliest cause: asked again in json_object (the schema in the prompt),
# where the same 400 again is final, with Google's words.
BARE_INVALID = re.compile(r"Request contains an invalid argument", re.IGNORECASE)


# What mends a window on a server the user runs, and the setting that tells llmtrade of it (llm/prompt_cut.py).
_SERVED_WINDOW = (
    "a server you run takes a larger one (vLLM: --max-model-len; Ollama: num_ctx or OLLAMA_CONTEXT_LENGTH), with "
    "context_tokens for provider {provider} in models.yaml set to match"
)


def _no_user_left(message: str, provider: str, response: httpx.Response) -> Exception:
    """The error of a chat template's refusal of a conversation with no user turn (error_pages.NO_USER_QUERY): one
    sent with a user message lost it to a window (LLMContextExceeded, final for the prompt: cut the same way again);
    one sent with none is the request's own fault (LLMRequestRejected), no window's."""
    if user_sent(response) is False:
        return LLMRequestRejected(
            f"{message}; the request carried no user message, which the model's chat template requires (a prompt "
            "of system messages alone): final, not asked again"
        )
    return LLMContextExceeded(
        f"{message}; the conversation sent had a user message, so the server (or a proxy before it) dropped messages "
        "to fit its context window and no user message was left (Ollama drops the oldest past num_ctx): final for "
        f"this prompt, not asked again; {_SERVED_WINDOW.format(provider=provider)}, or shorten the prompt (models.yaml "
        "memory.token_budget); the rerun after the fix asks again"
    )


class Retryable(Exception):
    """A failure another attempt may not meet; `retry_after`: the seconds the provider asked to wait (None: unsaid)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def refusal(
    status: int,
    reason: str,
    response: httpx.Response,
    *,
    provider: str,
    model: str,
    said: str,
    asked: str,
    max_retry_after: float,
    limit: str | None = None,
    mode: str | None = None,
) -> Exception:
    """The error an HTTP error `status` (or an in-body error's code) means, for the chat and the embeddings client.

    408, 429 and 5xx are `Retryable` (with the wait asked: retry-after-ms, Retry-After, for a 429 the wait its body
    names, else its X-RateLimit-Reset), but a 429 of a quota that resets on a calendar day, of an account out of quota
    that names no wait, or whose wait is longer than `max_retry_after`, is LLMRateLimited at once; 402 is
    LLMOutOfCredits (temporary: fixed by a top-up), unless its Retry-After is one the run may wait (OpenRouter's
    in-flight budget, which passes), and so is Anthropic's 400 for a credit balance too low (NO_CREDIT); a 403 of
    OpenRouter's moderation is LLMContentFiltered (final: the same prompt is flagged again), and so is a 400 of a
    content filter (error_pages.prompt_filtered: OpenAI's invalid_prompt, Azure's content_filter); a chat template's
    refusal of a conversation with no user turn (error_pages.NO_USER_QUERY: Ollama's and llama.cpp's 500, vLLM's 400) is
    LLMContextExceeded when the request carried one (`_no_user_left`); 401/403, and Google's 400
    for a key (error_pages.key_refused), LLMAuthRejected (its 400 for the caller's region LLMLocationRefused, one kind
    of it); a 400 for a prompt past the context window (error_pages.context_full) LLMContextExceeded, as a reply whose
    window filled; with `mode` (the response format asked: json_schema or json_object) a 400/404/422 whose words refuse
    that format, or Google's bare 400 to a schema on the wire (BARE_INVALID), is StructuredOutputRefused; 404 or a
    redirect (3xx, never followed) LLMNoEndpoint naming where it points (fixed by the user: a rerun asks again); any
    other 4xx LLMRequestRejected.
    `asked`: what was refused, in the message ("the request for", "to embed with"); `said`: how the status came
    ("HTTP 429", "HTTP 200 carrying error 502")."""
    wait = retry_after(response)
    if status == 429:
        text = reason or error_text(response)
        # The whole body too: a quota's period and wait are in its details (Google's QuotaFailure quotaId and
        # RetryInfo, relayed whole in OpenRouter's metadata.raw), which the reason shown leaves out.
        whole = f"{text}\n{response.text}"
        named_by = "Retry-After"
        if wait is None:
            wait, named_by = body_wait(whole), "its body"
        if wait is None:
            wait, named_by = reset_wait(response), "X-RateLimit-Reset"
        if NO_QUOTA.search(whole):
            return LLMRateLimited(
                f"{provider} has no quota for {model} on the account's plan ({text}); not retried: waiting gives none, "
                "enable billing or a plan that includes the model, or use another model"
            )
        if DAILY.search(whole):
            return LLMRateLimited(
                f"{provider} rate-limited {model} by a quota that resets later ({text}); "
                "not retried: try again after the quota resets, or use another provider or model"
            )
        if BILLING.search(whole) and wait is None:  # OpenAI's insufficient_quota: a balance spent, no reset to wait
            return LLMRateLimited(
                f"{provider} has no quota or credits left for {model} on the account ({text}); not retried: no wait "
                "refills it: add credits or raise the plan's limit (billing), or use another provider or model; a "
                "rerun after that asks again"
            )
        if wait is not None and wait > max_retry_after:
            return LLMRateLimited(
                f"{provider} rate-limited {model} and asked to wait {wait:.0f} s ({named_by}), longer than "
                f"the {max_retry_after:g} s this run may wait (max_retry_after_seconds): {text}"
            )
    if status >= 500 and NO_MEMORY.search(reason):
        return LLMServerOutOfMemory(
            f"{provider} cannot load {model}: {said}: {reason}; the server has too little memory for the model: free "
            "memory on it, or use a smaller (more quantized) model or a server with more; not asked again within the "
            "run, as no wait makes room (a later run asks again)"
        )
    if (status == 400 or status >= 500) and NO_USER_QUERY.search(reason):
        return _no_user_left(f"{provider} refused {asked} {model}: {said}: {reason}", provider, response)
    if status in (408, 429) or status >= 500:
        return Retryable(f"{said}: {reason}", wait)
    if status == 402:
        if wait is not None and wait <= max_retry_after:
            return Retryable(f"{said}: {reason}", wait)
        return out_of_credits(provider, model, f"{said}: {reason}", limit)
    if status == 400 and NO_CREDIT.search(reason):
        return out_of_credits(provider, model, f"{said}: {reason}", limit)
    message = f"{provider} refused {asked} {model}: {said}: {reason}"
    if context_full(status, reason, response.text):
        window = window_said(reason) or window_said(response.text[:10000])
        named = f" ({window}-token context window)" if window else ""
        return LLMContextExceeded(
            f"{message}: the input and max_tokens do not fit the model's context window{named}; shorten the prompt "
            "(models.yaml memory.token_budget, a prompt override), lower max_tokens, or use a model with a larger "
            f"context window; {_SERVED_WINDOW.format(provider=provider)}; the rerun after the fix asks again"
        )
    if status == 403 and (flagged := _flagged(response)) is not None:
        return LLMContentFiltered(f"{provider} flagged the request for {model} in moderation ({flagged}): {reason}")
    if (filtered := prompt_filtered(status, response)) is not None:  # the same refusal as a 400, classed alike
        return LLMContentFiltered(
            f"{message}: its content filter refused the prompt ({filtered}): final for this prompt, not asked again; "
            "reword the prompt (a prompt override) or use another model for the role"
        )
    if location_refused(status, reason, response.text):
        return LLMLocationRefused(
            f"{message}; {provider} does not serve calls from this region (the account's or the machine's location, "
            "not the request): call it from a supported region (a base_url or proxy there in models.yaml, or Vertex "
            "AI) or use another provider; the rerun after the move asks again"
        )
    if status in (401, 403) or key_refused(status, reason, response.text):
        return LLMAuthRejected(f"{message}; check the provider's API key and account")
    if (
        mode in ("json_schema", "json_schema_core", "json_object")
        and status in (400, 404, 422)
        and FORMAT_REFUSED.search(reason)
    ) or (mode in ("json_schema", "json_schema_core") and status == 400 and BARE_INVALID.search(reason)):
        return StructuredOutputRefused(f"{message} (response format {mode})")
    if 300 <= status < 400:  # httpx follows no redirect: a POST sent on could carry the key to another host
        where = response.headers.get("location") or "nowhere said"
        return LLMNoEndpoint(f"{message} (a redirect to {where}); set the provider's base_url in models.yaml to it")
    if (url := no_such_path(response)) is not None:
        return LLMNoEndpoint(
            f"{message}; nothing is served at {url}: check the provider's base_url in models.yaml (an "
            "OpenAI-compatible server's usually ends in /v1, e.g. Ollama's http://localhost:11434/v1)"
        )
    if status == 404:  # an unknown model, or no endpoint the account's settings allow (a data policy)
        return LLMNoEndpoint(f"{message}; check the model's name and the account's settings at the provider")
    return LLMRequestRejected(message)
