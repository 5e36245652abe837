"""An async client for OpenAI-compatible chat completions (OpenRouter, OpenAI, Ollama, vLLM, ...).

Temporary failures (429, 5xx, timeouts, dropped connections) are retried with exponential backoff
that honours Retry-After, within a bounded number of attempts and a bounded total time. Anything
else the server refuses (401, 404, 400) is an OperationalError at once: retrying a bad key only
burns time.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)

from llmtrade.errors import LLMRequestRejected, LLMUnavailable
from llmtrade.llm.types import ChatReply, ChatRequest, Usage

_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 20.0
# A Retry-After longer than this is treated as "not within this run's patience".
_MAX_RETRY_AFTER = 60.0


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class OpenAICompatibleClient:
    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None,
        *,
        timeout_seconds: float = 120.0,
        max_concurrency: int = 8,
        max_retries: int = 4,
        max_total_seconds: float = 300.0,
        structured_outputs: bool = True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout_seconds
        self._limit = asyncio.Semaphore(max_concurrency)
        self._max_retries = max_retries
        self._max_total = max_total_seconds
        self._structured = structured_outputs
        self._sleep = sleep
        # OpenRouter reports each call's cost when asked; other servers may reject the extra field.
        self._ask_for_cost = urlsplit(self.base_url).hostname == "openrouter.ai"
        self._http: httpx.AsyncClient | None = None

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def send(self, request: ChatRequest) -> ChatReply:
        """Send one request, retrying temporary failures; returns the first answer received."""
        body = self._body(request)
        attempts = 0
        started = time.perf_counter()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._max_retries + 1) | stop_after_delay(self._max_total),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    data = await self._post(body, request.model)
        except _Retryable as exc:
            elapsed = time.perf_counter() - started
            raise LLMUnavailable(
                f"{self.name} did not answer {request.model} after {attempts} attempt(s) in {elapsed:.1f} s: {exc}"
            ) from None
        latency_ms = (time.perf_counter() - started) * 1000
        return self._reply(data, request.model, attempts, latency_ms)

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(max(exc.retry_after, 0.0), _MAX_RETRY_AFTER)
        # Exponential with jitter, so a committee's parallel calls do not retry in lockstep.
        backoff = min(_BACKOFF_FIRST * 2 ** (state.attempt_number - 1), _BACKOFF_MAX)
        return backoff + random.uniform(0, _BACKOFF_FIRST)

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [m.model_dump() for m in request.messages],
            "temperature": request.temperature,
            "max_tokens": request.max_tokens,
        }
        if request.json_schema is not None:
            if self._structured:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": request.schema_name or "answer",
                        "schema": request.json_schema,
                        "strict": True,
                    },
                }
            else:
                body["response_format"] = {"type": "json_object"}
        if self._ask_for_cost:
            body["usage"] = {"include": True}
        return body

    async def _post(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            self._http = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(self._timeout))
        async with self._limit:
            try:
                response = await self._http.post(f"{self.base_url}/chat/completions", json=body)
            except httpx.TimeoutException:
                raise _Retryable(f"no answer within {self._timeout:g} s") from None
            except httpx.TransportError as exc:
                raise _Retryable(f"connection failed: {exc or type(exc).__name__}") from None
        status = response.status_code
        if status == 429 or status >= 500:
            raise _Retryable(f"HTTP {status}: {_error_text(response)}", _retry_after(response))
        if status >= 400:
            raise LLMRequestRejected(
                f"{self.name} refused the request for {model}: HTTP {status}: {_error_text(response)}"
            )
        try:
            data = response.json()
            data["choices"][0]["message"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Retryable(
                f"HTTP {status} with a body that is not a chat completion: {response.text[:200]!r}"
            ) from None
        return data

    def _reply(self, data: dict[str, Any], model: str, attempts: int, latency_ms: float) -> ChatReply:
        usage = data.get("usage") or {}
        cost = usage.get("cost")
        return ChatReply(
            content=data["choices"][0]["message"].get("content") or "",
            usage=Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or 0),
                completion_tokens=int(usage.get("completion_tokens") or 0),
                cost_usd=float(cost) if cost is not None else None,
            ),
            attempts=attempts,
            latency_ms=latency_ms,
            provider=self.name,
        )


def _retry_after(response: httpx.Response) -> float | None:
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


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
    return json.dumps(data)[:300]
