"""One turn of a chat with tools on an OpenAI-compatible `/chat/completions` (function calling), recorded.

`llmtrade ask` needs tool calls, which the gateway's answer path (text or a schema) does not carry; this
is that path, kept apart so the gateway stays the committee's. Every turn is recorded like any other model
call (LLMCallCompleted or LLMCallFailed on the run's llm stream, role "ask") and passes the same dollar
budget (llm/budget.py) before it is sent. Tool calls come back as real servers send them: `tool_calls`
with `function.arguments` a JSON *string*, which may be malformed; parsing them is the caller's job. What a 200 says
(the text, the calls, or the failure it holds) is read in llm/tool_reply.py.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception

from llmtrade.config.models import Price
from llmtrade.domain.events import BudgetRefused, EventSink, LLMCallCompleted, LLMCallFailed, NewEvent
from llmtrade.domain.streams import llm_stream
from llmtrade.errors import BudgetExceeded, LLMRequestRejected, LLMUnavailable
from llmtrade.llm.budget import Budget, estimate_prompt_tokens, price_of
from llmtrade.llm.http_errors import (
    Retryable,
    error_text,
    limit_source_of,
    refusal,
    refused_parameter,
)
from llmtrade.llm.prompt_cut import least_prompt_tokens
from llmtrade.llm.reasked import AskedOtherwise, max_tokens_refused
from llmtrade.llm.records import CallSite, UsageTotals
from llmtrade.llm.replies import parse_usage, recitation
from llmtrade.llm.retry_policy import RetryPolicy, asked_wait, pause, temporary
from llmtrade.llm.tool_messages import flat_message, readable_body
from llmtrade.llm.tool_reply import ToolCall, read_turn
from llmtrade.llm.types import Usage
from llmtrade.reply_errors import (
    LLMBadReply,
    LLMContentFiltered,
    LLMNoChoice,
    LLMUpstreamError,
)


@dataclass(frozen=True)
class Turn:
    """What the model said: text (its answer, when it calls no tool) and the tools it called."""

    content: str | None
    calls: list[ToolCall]
    message: dict[str, Any]  # the assistant message, to send back with the tools' results


@dataclass
class ToolChat:
    provider: str
    base_url: str
    api_key: str | None
    model: str
    max_tokens: int
    events: EventSink
    price: Price | None
    budget: Budget = field(default_factory=Budget.unlimited)
    timeout_seconds: float = 120.0
    totals: UsageTotals = field(default_factory=UsageTotals)
    # The provider's models.yaml `reasoning_as_answer`: a final text only in the reasoning field is the answer.
    reasoning_as_answer: bool = False
    # How a temporary failure is asked again (`llmtrade ask` passes the provider's settings, as the jobs' client
    # has them); unset, a turn is asked once. `sleep` waits (tests pass their own); `on_wait` is told each wait.
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_retries=0))
    sleep: Callable[[float], Awaitable[None]] | None = None
    on_wait: Callable[[str], None] | None = None
    # The provider's models.yaml `context_tokens`: the server's window, where it cuts a longer prompt silently.
    context_tokens: int | None = None

    async def turn(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], site: CallSite, *, again: str | None = None
    ) -> Turn:
        """Send the conversation, asking again after a temporary failure under `retry` (the committee's policy:
        llm/retry_policy.py), each wait said to `on_wait`; raises BudgetExceeded (not sent), LLMUnavailable,
        LLMRequestRejected or an LLMBadReply (llm/replies.py; a moderation 403 is LLMContentFiltered), each attempt
        recorded as a call. A turn Gemini's recitation check withheld, or answered with no choice, is asked once more
        (as the committee's client does), `again` saying why."""
        waits: list[str] = []
        started = time.perf_counter()
        retrying = AsyncRetrying(
            stop=self.retry.stop(),
            wait=lambda state: self.retry.wait(state.attempt_number, asked_wait(state)),
            retry=retry_if_exception(temporary),
            sleep=self.sleep or pause,
            before_sleep=lambda state: self._waiting(waits, state),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._attempt(messages, tools, site, again=again, waits=waits)
        except (LLMUnavailable, LLMUpstreamError) as exc:
            if not waits or not temporary(exc):
                raise
            elapsed = time.perf_counter() - started
            raise LLMUnavailable(
                f"{self.provider} did not answer {self.model} after {len(waits) + 1} attempt(s) in {elapsed:.1f} s: "
                f"{exc}"
            ) from None
        raise AssertionError("unreachable: tenacity returns or raises")  # pragma: no cover

    def _waiting(self, waits: list[str], state: RetryCallState) -> None:
        """Say what the turn waits for, and keep it for the answer's event note."""
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        asked = " (as the provider asked)" if asked_wait(state) is not None else ""
        waits.append(f"asked again after {wait:.1f} s{asked}: {str(exc)[:160]}")
        if self.on_wait is not None:
            self.on_wait(
                f"{self.provider} did not answer {self.model} (attempt {state.attempt_number} of "
                f"{self.retry.max_retries + 1}): {exc}; waiting {wait:.1f} s{asked} before asking again"
            )

    async def _attempt(
        self,
        messages: list[dict[str, Any]],
        tools: list[dict[str, Any]],
        site: CallSite,
        *,
        again: str | None,
        waits: list[str],
    ) -> Turn:
        """One attempt of the turn, recorded."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": self.max_tokens}
        if tools:
            body["tools"] = tools
        key = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
        held = self.budget.reserve(site.role, self.model, estimate_prompt_tokens(messages, tools), self.max_tokens)
        if isinstance(held, BudgetRefused):
            self._append(site, held)
            raise BudgetExceeded(f"{site.role} call to {self.model} not sent: {held.reason}")
        started = time.perf_counter()
        lowered: list[AskedOtherwise] = []  # max_tokens asked lower on a 400 that named what fits (llm/reasked.py)
        try:
            response = await self._post(body, lowered)
        except (LLMUnavailable, LLMRequestRejected, LLMBadReply) as exc:  # a moderation 403 is a content filter
            self.budget.settle(held, 0.0)  # no 200: nothing was generated
            self._append(site, self._failed(messages, key, exc))
            raise
        except BaseException:  # cancelled while waiting (SIGTERM, Ctrl-C): its hold released, nothing known billed
            self.budget.settle(held, 0.0)
            raise
        latency = (time.perf_counter() - started) * 1000
        # From here a 200 came: the model generated and the call is billed, its cost unknown unless reported.
        worst = held.amount if held is not None else None
        data, unreadable = readable_body(response)
        try:
            if unreadable:
                raise LLMUnavailable(f"{self.provider} answered {self.model} with {unreadable}")
            # A floor of the conversation's tokens, the tools' definitions with it (prompt_cut.py).
            least = least_prompt_tokens([*(str(m.get("content") or "") for m in messages), json.dumps(tools)])
            sent = next((a.max_tokens for a in reversed(lowered) if a.max_tokens), self.max_tokens)
            content, calls, message, doubt = read_turn(
                data,
                response,
                least,
                offered=bool(tools),
                sent=sent,
                provider=self.provider,
                model=self.model,
                context_tokens=self.context_tokens,
                reasoning_as_answer=self.reasoning_as_answer,
                refused=self._refused,
            )
        except (LLMUnavailable, LLMRequestRejected, LLMBadReply) as error:
            usage = self._usage(data)
            self.budget.settle(held, usage.cost_usd)
            billed = {
                "billed": True,
                "prompt_tokens": usage.prompt_tokens,
                "completion_tokens": usage.completion_tokens,
                "cost_usd": usage.cost_usd,
                "cost_counted_usd": worst if usage.cost_usd is None else None,
            }
            if isinstance(error, LLMBadReply):  # what did come back, as the gateway's record keeps it
                billed |= {"answer": error.content or None, "finish_reason": error.finish_reason}
            emptied = isinstance(error, LLMNoChoice)  # asked once more, then final for the prompt (its docstring)
            if isinstance(error, LLMNoChoice) and again is not None:
                error = error.blocked()
            recited = recitation(data) if isinstance(error, LLMContentFiltered) else None
            if recited is not None and again is not None:
                error.args = (f"{error}; asked once more after an earlier {again}, and withheld again",)
            failed = self._failed(messages, key, error).model_copy(update=billed)
            self._append(site, failed)
            if (recited is not None or emptied) and again is None:
                # Gemini's recitation check often passes the same request the next time (replies._RECITED).
                why = (
                    f"asked once more after finish reason {recited} (Gemini's recitation check)"
                    if recited is not None
                    else "asked once more after a reply with no choice (Gemini's shape for a prompt it blocked)"
                )
                return await self.turn(messages, tools, site, again=why)
            raise error from None
        usage = self._usage(data)
        self.budget.settle(held, usage.cost_usd)
        self.totals.add(self.model, usage)
        answer = content if not calls else json.dumps([c.__dict__ for c in calls])
        notes = [
            *([f"tool calls: {', '.join(c.name for c in calls)}"] if calls else []),
            *([doubt] if doubt else []),
            *(a.note or "" for a in lowered),
            *([again] if again else []),
            *waits,
        ]
        self._append(
            site,
            LLMCallCompleted(
                role=site.role,
                provider=self.provider,
                model=self.model,
                source="live",
                messages=[flat_message(m) for m in messages],
                answer=answer or "",
                schema_name=None,
                outcome="ok",
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cost_usd=usage.cost_usd,
                cost_counted_usd=worst if usage.cost_usd is None else None,
                latency_ms=latency,
                attempts=1,
                cache_key=key,
                finish_reason=data["choices"][0].get("finish_reason"),
                # A turn asked within the room its conversation leaves records the max_tokens it was sent with.
                max_tokens=next((a.max_tokens for a in reversed(lowered) if a.max_tokens), self.max_tokens),
                note="; ".join(notes) or None,
            ),
        )
        return Turn(content, calls, {k: v for k, v in message.items() if k in ("role", "content", "tool_calls")})

    async def _post(self, body: dict[str, Any], lowered: list[AskedOtherwise]) -> httpx.Response:
        """The turn's POST; a 400 naming the form the request fits in is asked again so at once, not billed (nothing
        was generated): max_completion_tokens for max_tokens, a max_tokens above the model's most (kept for the turns
        after: `self.max_tokens`), or past the room the conversation leaves in the window (this turn's alone, asked
        so once). `lowered` gets each max_tokens lowering, for the turn's event."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        url = f"{self.base_url.rstrip('/')}/chat/completions"
        try:
            async with httpx.AsyncClient(timeout=self.timeout_seconds, headers=headers) as http:
                response = await http.post(url, json=body)
        except httpx.HTTPError as exc:
            raise LLMUnavailable(f"{self.provider} did not answer {self.model}: {exc or type(exc).__name__}") from None
        status = response.status_code
        if status >= 400 and refused_parameter(status, response) == "max_tokens" and "max_tokens" in body:
            # OpenAI's reasoning models take max_completion_tokens (as the chat client learns it): asked so at once.
            tokens = {k: v for k, v in body.items() if k != "max_tokens"}
            return await self._post({**tokens, "max_completion_tokens": body["max_tokens"]}, lowered)
        param = "max_tokens" if "max_tokens" in body else "max_completion_tokens"
        if status == 400 and param in body:
            # An ask whose conversation grew with its tools' results leaves less room each turn: the same 400s the
            # committee's client asks again on (llm/http_client.py), read the same way.
            fitted = any(a.max_tokens is not None for a in lowered)
            fits = max_tokens_refused(status, error_text(response), body[param], self.model, may_fit=not fitted)
            if fits is not None:
                if fits.most is not None:
                    self.max_tokens = min(self.max_tokens, fits.most)
                lowered.append(fits)
                return await self._post({**body, param: fits.most or fits.max_tokens}, lowered)
        if status >= 300:
            # Read as the gateway's client reads it (a 402 is out of credits, a 401/403 the key, a daily quota's 429
            # not worth waiting for; a redirect, never followed, names where it points).
            self._refused(status, error_text(response), response, response)
        return response

    def _refused(self, status: int, reason: str, response: httpx.Response, found: Any) -> NoReturn:
        """Raise what an error `status` means (llm/http_errors.refusal); what the chat client would retry is
        temporary here: a turn of `ask` is asked once."""
        said = f"HTTP {response.status_code}" if status == response.status_code else f"HTTP 200 carrying error {status}"
        error = refusal(
            status,
            reason,
            response,
            provider=self.provider,
            model=self.model,
            said=said,
            asked="the request for",
            max_retry_after=self.retry.max_retry_after,  # a longer wait fails at once, as the jobs' client does
            limit=limit_source_of(found),
        )
        if isinstance(error, Retryable):
            unavailable = LLMUnavailable(f"{self.provider} answered {self.model} with {error}")
            unavailable.retry_after = error.retry_after
            raise unavailable from None
        raise error

    def _usage(self, data: Any) -> Usage:
        """The reply's usage priced (replies.parse_usage): none reported, or not both token counts, is unknown (None:
        the budget counts its worst case), never $0."""
        usage = parse_usage(data)
        if usage.cost_usd is None and usage.reported and self.price is not None:
            return usage.model_copy(
                update={"cost_usd": price_of(self.price, usage.prompt_tokens, usage.completion_tokens)}
            )
        return usage

    def _failed(self, messages: list[dict[str, Any]], key: str, exc: Exception) -> LLMCallFailed:
        return LLMCallFailed(
            role="ask",
            provider=self.provider,
            model=self.model,
            messages=[flat_message(m) for m in messages],
            error_type=type(exc).__name__,
            error=str(exc),
            cache_key=key,
            max_tokens=self.max_tokens,
        )

    def _append(self, site: CallSite, payload: LLMCallCompleted | LLMCallFailed | BudgetRefused) -> None:
        self.events.append(
            [NewEvent.of(payload, stream=llm_stream(site.run_id), week_id=site.week_id, run_id=site.run_id)]
        )
