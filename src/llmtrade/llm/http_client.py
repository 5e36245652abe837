"""An async client for OpenAI-compatible chat completions (OpenRouter, OpenAI, Ollama, vLLM, ...).

Temporary failures (429, 5xx, timeouts, dropped connections) are retried with exponential backoff
that honours Retry-After, within a bounded number of attempts and a bounded total time. Two clocks bound an
attempt: `timeout_seconds` waits for the first byte and between reads (httpx's timeout), and a whole-attempt
deadline, body included, that a real answer fits: `attempt_floor_seconds` plus the request's max_tokens at
`min_tokens_per_second` (300 s + 4000 / 20 = 500 s by default; a reasoning model writes 30-100 tokens/s), so a
server that answers 200 and then trickles keep-alive bytes for ever still times out. An attempt cut off after
its 200 (that deadline, a read timeout, a dropped body) was generated and billed by the provider at a cost
nobody reported: the reply or error says how many (`cut_off`), and the gateway counts each at its worst case; an
attempt whose 200 carried an error in its body is billed at the usage it reported (`billed`), else so too. A
limit the run cannot wait out (a daily quota, or a Retry-After beyond `max_retry_after_seconds`)
fails at once as LLMRateLimited. Anything else the server refuses (401, 404, 400) is an
OperationalError at once: retrying a bad key only burns time (408, request timed out upstream, is retried;
402, no credits, is LLMOutOfCredits at once: temporary, fixed by a top-up); a refusal of the response format is
StructuredOutputRefused, so the gateway can ask again in a weaker format. Every 200 body goes
through the reply normaliser (llm/replies.py).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn
from urllib.parse import urlsplit

import httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
)

from llmtrade.errors import BudgetExceeded, LLMRequestRejected, LLMUnavailable
from llmtrade.llm.body_errors import body_error, choice_error, error_detail
from llmtrade.llm.call_records import BilledAttempts, spent_by
from llmtrade.llm.error_codes import error_status, generating, refused_to_begin
from llmtrade.llm.http_errors import (
    Retryable,
    body_text,
    cut_off_reason,
    error_text,
    limit_source_of,
    refusal,
    refused_parameter,
)
from llmtrade.llm.prompt_cut import least_prompt_tokens
from llmtrade.llm.reasked import AskedOtherwise, max_tokens_refused
from llmtrade.llm.replies import parse_usage, recitation
from llmtrade.llm.retry_policy import RetryPolicy
from llmtrade.llm.routing import RequiredParameters
from llmtrade.llm.sse import StreamCut, is_event_stream, reply_body
from llmtrade.llm.structured import core_schema
from llmtrade.llm.tls import shared_tls_context, warm_up
from llmtrade.llm.types import ChatReply, ChatRequest, ResponseMode
from llmtrade.llm.usable_reply import usable_reply
from llmtrade.reply_errors import (
    LLMBadReply,
    LLMContentFiltered,
    LLMNoChoice,
)

_COMPLETION = "max_completion_tokens"  # what OpenAI's reasoning models take for max_tokens (refused_parameter)


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
        reasoning_as_answer: bool = False,
        max_retry_after_seconds: float = 120.0,
        attempt_floor_seconds: float = 300.0,
        min_tokens_per_second: float = 20.0,
        context_tokens: int | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout_seconds
        self._limit = asyncio.Semaphore(max_concurrency)
        self._policy = RetryPolicy(max_retries, max_total_seconds, max_retry_after_seconds)  # llm/retry_policy.py
        # Read by the gateway to pick the first response format to try.
        self.structured_outputs = structured_outputs
        self._reasoning_as_answer = reasoning_as_answer
        self._max_retry_after = max_retry_after_seconds
        self._attempt_floor = attempt_floor_seconds
        self._min_rate = min_tokens_per_second
        self._context = context_tokens  # the server's window, where it cuts a longer prompt silently (prompt_cut.py)
        self._sleep = sleep
        # OpenRouter reports each call's cost when asked, and routes to the providers that honour a response format when
        # asked to (`_body`); other servers may reject either field.
        self._openrouter = urlsplit(self.base_url).hostname == "openrouter.ai"
        # What of this provider can change an answer (where it is asked, in what format, whether reasoning may stand
        # for it): part of a held answer's and failure's basis (pipeline/retry.asked_with), so a changed setting asks
        # again. Not the key: a new key is the fix for a 401, and the answers a stopped run kept for the other roles
        # must not be paid for again after it (review G3); what a key's account can refuse (401/403/404) is never held.
        self.answer_settings = json.dumps(
            {
                "base_url": self.base_url,
                "structured_outputs": structured_outputs,
                "reasoning_as_answer": reasoning_as_answer,
            },
            sort_keys=True,
        )
        self._http: httpx.AsyncClient | None = None
        # Models that refused max_tokens for max_completion_tokens, or any temperature but their default (OpenAI's
        # reasoning models): asked so for the rest of the process (http_errors.refused_parameter).
        self._completion_tokens: set[str] = set()
        self._default_temperature: set[str] = set()
        self._required = RequiredParameters()  # OpenRouter's require_parameters, and temperature (llm/routing.py)
        # Models whose 400 named the most output tokens they take (llm/reasked.py): asked at most so.
        self._most_tokens: dict[str, int] = {}
        warm_up(tls=self.base_url.startswith("https:"))

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    async def send(
        self, request: ChatRequest, *, before_attempt: Callable[[BilledAttempts], Awaitable[None]] | None = None
    ) -> ChatReply:
        """Send one request, retrying temporary failures; returns the first answer received. `before_attempt` is
        awaited before each attempt with this call's attempts billed so far (the gateway holds what each may count
        under the budget: llm/budget.Hold); what it raises (BudgetExceeded) ends the call."""
        mode = self._mode(request)
        attempts = 0
        tally = BilledAttempts()
        deadline = self.attempt_deadline(request.max_tokens)
        started = time.perf_counter()
        reasked: str | None = None  # why the call asked once more (Gemini's RECITATION), for its event's note
        lowered: str | None = None  # max_tokens lowered to the model's most, for its event's note too
        emptied: str | None = None  # asked once more after a reply with no choice (reply_errors.LLMNoChoice)
        fitted = False  # max_tokens lowered once to the room this call's prompt leaves (llm/reasked.py)
        data: Any = None  # the last body read (a refusal before any, a 403's moderation, leaves none)
        least = least_prompt_tokens(
            m.content for m in request.messages
        )  # a floor of its tokens: a prompt the server cut (prompt_cut.py)
        try:
            while True:
                body = self._body(request, mode)
                retrying = AsyncRetrying(
                    stop=self._policy.stop(),
                    wait=self._wait,
                    retry=retry_if_exception_type(Retryable),
                    sleep=self._sleep,
                    reraise=True,
                )
                try:
                    async for attempt in retrying:
                        with attempt:
                            if before_attempt is not None:
                                try:
                                    await before_attempt(tally)
                                except BudgetExceeded as exc:
                                    tally.onto(exc, attempts)
                                    raise
                            attempts += 1
                            data = await self._post(body, request.model, mode, deadline, tally, may_fit=not fitted)
                            # Raises an LLMBadReply subclass when the 200 carries no usable answer.
                            normal = usable_reply(
                                data,
                                provider=self.name,
                                model=request.model,
                                reasoning_as_answer=self._reasoning_as_answer,
                                context=self._context,
                                tally=tally,
                                least=least,
                                sent=body.get("max_tokens", body.get(_COMPLETION)),
                            )
                except AskedOtherwise as asked:
                    lowered = "; ".join(note for note in (lowered, asked.note) if note) or None
                    if asked.max_tokens is not None:
                        fitted, request = True, request.model_copy(update={"max_tokens": asked.max_tokens})
                    continue  # the model takes a parameter in another form: asked so at once (refused_parameter)
                except LLMContentFiltered as exc:
                    recited = recitation(data)
                    if recited is None or reasked is not None:
                        if recited is not None:
                            exc.args = (f"{exc}; asked once more after an earlier {reasked}, and withheld again",)
                        raise
                    # Gemini's recitation check often passes the same request the next time (replies._RECITED):
                    # asked once more, this attempt billed at what it reported (else at its worst case).
                    tally.bill(spent_by(exc))
                    reasked = f"asked once more after finish reason {recited} (Gemini's recitation check)"
                    continue
                except LLMNoChoice as exc:
                    if emptied is not None:
                        raise exc.blocked() from None
                    tally.bill(spent_by(exc))  # asked once more: a proxy may have dropped a candidate with no content
                    emptied = "asked once more after a reply with no choice (Gemini's shape for a prompt it blocked)"
                    continue
                break
        except Retryable as exc:
            elapsed = time.perf_counter() - started
            cut_off = tally.cut_off
            unavailable = LLMUnavailable(
                f"{self.name} did not answer {request.model} after {attempts} attempt(s) in {elapsed:.1f} s: {exc}"
                + (f" ({cut_off} cut off after the provider began answering: billed, cost unknown)" if cut_off else "")
            )
            tally.onto(unavailable, attempts)
            raise unavailable from None
        except (LLMUnavailable, LLMRequestRejected, LLMBadReply, asyncio.CancelledError) as exc:  # a refusal, a
            tally.onto(exc, attempts)  # quota, a bad reply, or cancelled: billed attempts count all the same
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        return ChatReply(
            content=normal.text,
            usage=normal.usage,
            attempts=attempts,
            latency_ms=latency_ms,
            provider=self.name,
            finish_reason=normal.finish_reason,
            reasoning=normal.reasoning,
            think=normal.think,
            answer_from=normal.answer_from,
            response_mode=mode,
            cut_off=tally.cut_off,
            billed=tuple(tally.billed),
            reasked="; ".join(note for note in (lowered, reasked, emptied) if note) or None,
        )

    def attempt_deadline(self, max_tokens: int) -> float:
        """Seconds one attempt may take in all, body included: room for `max_tokens` at the slowest rate a real
        model writes, never less than the wait for a first byte."""
        return max(self._attempt_floor, self._timeout) + max_tokens / self._min_rate

    def _mode(self, request: ChatRequest) -> ResponseMode | None:
        if request.json_schema is None:
            return None
        if request.response_mode is not None:
            return request.response_mode
        return "json_schema" if self.structured_outputs else "json_object"

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return self._policy.wait(state.attempt_number, exc.retry_after if isinstance(exc, Retryable) else None)

    def _body(self, request: ChatRequest, mode: ResponseMode | None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": request.model, "messages": [m.model_dump() for m in request.messages]}
        if request.model not in self._default_temperature:
            body["temperature"] = request.temperature
        tokens = min(request.max_tokens, self._most_tokens.get(request.model, request.max_tokens))
        body["max_completion_tokens" if request.model in self._completion_tokens else "max_tokens"] = tokens
        if request.json_schema is not None:
            if mode in ("json_schema", "json_schema_core"):
                schema = request.json_schema if mode == "json_schema" else core_schema(request.json_schema)
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": request.schema_name or "answer", "schema": schema, "strict": True},
                }
            elif mode == "json_object":
                body["response_format"] = {"type": "json_object"}
            # "text": no response_format at all; the schema is in the prompt (the gateway put it there)
        if self._openrouter:
            body["usage"] = {"include": True}
            self._required.apply(body, request.model)  # routed only to providers honouring the format (routing.py)
        return body

    async def _post(
        self,
        body: dict[str, Any],
        model: str,
        mode: ResponseMode | None,
        deadline: float,
        tally: BilledAttempts,
        *,
        may_fit: bool = False,
    ) -> Any:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            # A plain-HTTP base URL (a local vLLM or Ollama) never does TLS (redirects are not followed),
            # so it needs no CA bundle; https gets the process's shared context.
            verify: ssl.SSLContext | bool = shared_tls_context() if self.base_url.startswith("https:") else False
            self._http = httpx.AsyncClient(headers=headers, timeout=httpx.Timeout(self._timeout), verify=verify)
        async with self._limit:
            began: int | None = None  # the status, once it came: past a 2xx, the provider is generating
            try:
                # httpx's timeout is per read: a server that answers 200 and then trickles a byte of whitespace
                # now and then (a keep-alive) would hold the attempt for ever. The whole attempt has a deadline.
                async with asyncio.timeout(deadline):
                    async with self._http.stream("POST", f"{self.base_url}/chat/completions", json=body) as response:
                        began = response.status_code
                        await response.aread()
            except (TimeoutError, httpx.HTTPError) as exc:
                if generating(began):  # cut off after its 200: generated, billed at a cost nobody reported
                    tally.bill(None)
                tokens = body.get("max_tokens", body.get("max_completion_tokens"))
                raise Retryable(cut_off_reason(exc, deadline, self._timeout, tokens)) from None
            except asyncio.CancelledError:
                if generating(began):  # cancelled after its 200: generated and billed all the same
                    tally.bill(None)
                raise
        status = response.status_code
        if status >= 300:  # a redirect too, which is never followed (http_errors.refusal)
            sent = body.get("max_tokens", body.get(_COMPLETION))
            lowered = max_tokens_refused(status, error_text(response), sent, model, may_fit=may_fit)
            if lowered is not None:
                if lowered.most is not None:  # the model's own most: asked so for the rest of the command
                    self._most_tokens[model] = lowered.most
                raise lowered
            if (unrouted := self._required.unrouted(status, error_text(response), body, model)) is not None:
                raise unrouted  # asked again without temperature: the response format wins (llm/routing.py)
            param = refused_parameter(status, response)
            taken = self._default_temperature if param == "temperature" else self._completion_tokens
            if param is not None and model not in taken:
                taken.add(model)
                raise AskedOtherwise(param)
            said = f"HTTP {status}"
            self._refused(
                status, error_text(response), response, model, mode, said=said, limit=limit_source_of(response)
            )
        try:
            data = reply_body(response)  # a stream nobody asked for is assembled (llm/sse.py)
        except StreamCut as exc:  # generated, then cut: billed at what it reported, else at its worst case
            tally.bill(parse_usage(exc.partial))
            raise Retryable(f"HTTP {status} with {exc}") from None
        except ValueError:
            if generating(status):  # the 200 says it was generated (a proxy cut or mangled it): billed, cost unknown
                tally.bill(None)
            raise Retryable(f"HTTP {status} with a body that is not JSON: {body_text(response)!r}") from None
        error = body_error(data) or choice_error(data)
        if isinstance(error, dict):
            # An error inside a 200, for the whole body or on the choice (OpenRouter relays upstream failures so, before
            # or mid-answer): its code, number or word, decides as a status would (none: asked again, usable_reply.py).
            code = error_status(error)
            if code is not None and code >= 400:
                said = f"HTTP 200 carrying error {code}"
                try:
                    self._refused(
                        code, error_detail(error), response, model, mode, said=said, limit=limit_source_of(error)
                    )
                except Exception:
                    # The 200 says the model began (OpenRouter sends an error during generation in the body): the
                    # tokens it reports are billed, and with none reported the attempt counts at its worst case. A
                    # rate limit or an overload with nothing written refused to begin: billed only what it reports.
                    usage = parse_usage(data)
                    if usage.reported or not refused_to_begin(code, data, stream=is_event_stream(response)):
                        tally.bill(usage)
                    raise
        return data

    def _refused(
        self,
        status: int,
        reason: str,
        response: httpx.Response,
        model: str,
        mode: ResponseMode | None,
        *,
        said: str,
        limit: str | None = None,
    ) -> NoReturn:
        """Raise what an error `status` means (llm/http_errors.py `refusal`): 408, 429 and 5xx are retried here."""
        raise refusal(
            status,
            reason,
            response,
            provider=self.name,
            model=model,
            said=said,
            asked="the request for",
            max_retry_after=self._max_retry_after,
            limit=limit,
            mode=mode,
        )
