"""The one door every role uses to talk to a model.

It picks the answer's source by mode (a live provider, the offline rules, or the replay cache),
validates structured answers with one repair attempt, records every request as an event, fills
the replay cache, and keeps the run's token and cost totals.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from llmtrade.config.models import ModelRef, Price
from llmtrade.domain.events import EventPayload, EventSink, LLMCallCompleted, LLMCallFailed, NewEvent
from llmtrade.domain.streams import llm_stream
from llmtrade.errors import InvalidLLMOutput, LLMRequestRejected, LLMUnavailable, ReplayMiss
from llmtrade.llm.structured import AnswerInvalid, parse_answer, repair_prompt, strict_schema
from llmtrade.llm.types import ChatMessage, ChatReply, ChatRequest, Usage
from llmtrade.storage.llm_cache import AnswerCache, CachedAnswer

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class LLMMode(StrEnum):
    LIVE = "live"
    OFFLINE = "offline"
    REPLAY = "replay"


class ProviderClient(Protocol):
    name: str

    async def send(self, request: ChatRequest) -> ChatReply: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class CallSite:
    """Who is asking, for the record: the role and the run, week and account it works for."""

    role: str
    run_id: str
    week_id: date | None = None
    account_id: str | None = None


@dataclass(frozen=True)
class Answer(Generic[T]):
    value: T
    model: str
    usage: Usage
    repaired: bool = False


@dataclass
class UsageTotals:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    unpriced_calls: int = 0
    by_model: dict[str, Usage] = field(default_factory=dict)

    def add(self, model: str, usage: Usage) -> None:
        self.calls += 1
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        if usage.cost_usd is None:
            self.unpriced_calls += 1
        else:
            self.cost_usd += usage.cost_usd
        before = self.by_model.get(model, Usage(cost_usd=0.0))
        self.by_model[model] = Usage(
            prompt_tokens=before.prompt_tokens + usage.prompt_tokens,
            completion_tokens=before.completion_tokens + usage.completion_tokens,
            cost_usd=(before.cost_usd or 0.0) + (usage.cost_usd or 0.0),
        )


@dataclass(frozen=True)
class _Exchange:
    content: str
    usage: Usage
    source: str
    provider: str
    attempts: int
    latency_ms: float
    key: str


class LLMGateway:
    def __init__(
        self,
        *,
        mode: LLMMode,
        clients: Mapping[str, ProviderClient],
        prices: Mapping[str, Price],
        events: EventSink,
        cache: AnswerCache | None,
    ):
        self.mode = mode
        self._clients = dict(clients)
        self._prices = dict(prices)
        self._events = events
        self._cache = cache
        self.totals = UsageTotals()

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def ask_text(
        self, ref: ModelRef, messages: Sequence[ChatMessage], site: CallSite, *, rules: Callable[[random.Random], str]
    ) -> Answer[str]:
        """A free-text answer."""
        request = self._request(ref, messages, None)
        exchange = await self._exchange(ref, request, site, lambda rng: rules(rng))
        self._record(site, ref, request, exchange, outcome="ok")
        return Answer(exchange.content, ref.model, exchange.usage)

    async def ask(
        self,
        ref: ModelRef,
        messages: Sequence[ChatMessage],
        site: CallSite,
        *,
        output: type[M],
        rules: Callable[[random.Random], M],
    ) -> Answer[M]:
        """A structured answer validated into `output`, with one repair attempt on invalid output."""
        request = self._request(ref, messages, output)
        first = await self._exchange(ref, request, site, lambda rng: rules(rng).model_dump_json())
        try:
            value = parse_answer(first.content, output)
        except AnswerInvalid as exc:
            problem = str(exc)
            self._record(site, ref, request, first, outcome="invalid", problem=problem)
        else:
            self._record(site, ref, request, first, outcome="ok")
            return Answer(value, ref.model, first.usage)

        repair = request.model_copy(
            update={
                "messages": (
                    *request.messages,
                    ChatMessage(role="assistant", content=first.content),
                    ChatMessage(role="user", content=repair_prompt(problem)),
                )
            }
        )
        second = await self._exchange(ref, repair, site, lambda rng: rules(rng).model_dump_json())
        usage = _sum(first.usage, second.usage)
        try:
            value = parse_answer(second.content, output)
        except AnswerInvalid as again:
            self._record(site, ref, repair, second, outcome="invalid", problem=str(again))
            raise InvalidLLMOutput(ref.model, site.role, str(again), second.content) from None
        self._record(site, ref, repair, second, outcome="repaired")
        return Answer(value, ref.model, usage, repaired=True)

    # ------------------------------------------------------------------ internals

    def _request(self, ref: ModelRef, messages: Sequence[ChatMessage], output: type[BaseModel] | None) -> ChatRequest:
        return ChatRequest(
            model=ref.model,
            messages=tuple(messages),
            temperature=ref.temperature,
            max_tokens=ref.max_tokens,
            schema_name=output.__name__ if output else None,
            json_schema=strict_schema(output) if output else None,
        )

    async def _exchange(
        self, ref: ModelRef, request: ChatRequest, site: CallSite, rules: Callable[[random.Random], str]
    ) -> _Exchange:
        key = cache_key(request)
        if self.mode is LLMMode.OFFLINE:
            started = time.perf_counter()
            # Seeded by the request, so the same inputs always give the same stand-in answer.
            content = rules(random.Random(int(key[:16], 16)))
            latency = (time.perf_counter() - started) * 1000
            return _Exchange(content, Usage(cost_usd=0.0), "rules", "rules", 1, latency, key)
        if self.mode is LLMMode.REPLAY:
            cached = self._cache.get(key) if self._cache else None
            if cached is None:
                raise ReplayMiss(
                    f"--replay: no cached answer for the {site.role} call to {ref.model} (key {key[:12]}); "
                    "run it live once first, or drop --replay"
                )
            usage = Usage(prompt_tokens=cached.prompt_tokens, completion_tokens=cached.completion_tokens, cost_usd=0.0)
            return _Exchange(cached.content, usage, "cache", "cache", 0, 0.0, key)
        client = self._clients[ref.provider]
        try:
            reply = await client.send(request)
        except (LLMUnavailable, LLMRequestRejected) as exc:
            self._append(
                site,
                LLMCallFailed(
                    role=site.role,
                    provider=client.name,
                    model=ref.model,
                    messages=[m.model_dump() for m in request.messages],
                    error_type=type(exc).__name__,
                    error=str(exc),
                    cache_key=key,
                ),
            )
            raise
        usage = self._priced(ref.model, reply.usage)
        if self._cache is not None:
            self._cache.put(
                key,
                ref.model,
                CachedAnswer(reply.content, usage.prompt_tokens, usage.completion_tokens, usage.cost_usd),
            )
        return _Exchange(reply.content, usage, "live", reply.provider, reply.attempts, reply.latency_ms, key)

    def _priced(self, model: str, usage: Usage) -> Usage:
        if usage.cost_usd is not None:
            return usage
        price = self._prices.get(model)
        if price is None:
            return usage
        cost = (usage.prompt_tokens * price.input_per_mtok + usage.completion_tokens * price.output_per_mtok) / 1e6
        return usage.model_copy(update={"cost_usd": cost})

    def _record(
        self,
        site: CallSite,
        ref: ModelRef,
        request: ChatRequest,
        exchange: _Exchange,
        *,
        outcome: str,
        problem: str | None = None,
    ) -> None:
        self.totals.add(ref.model, exchange.usage)
        self._append(
            site,
            LLMCallCompleted(
                role=site.role,
                provider=exchange.provider,
                model=ref.model,
                source=exchange.source,
                messages=[m.model_dump() for m in request.messages],
                answer=exchange.content,
                schema_name=request.schema_name,
                outcome=outcome,
                problem=problem,
                prompt_tokens=exchange.usage.prompt_tokens,
                completion_tokens=exchange.usage.completion_tokens,
                cost_usd=exchange.usage.cost_usd,
                latency_ms=exchange.latency_ms,
                attempts=exchange.attempts,
                cache_key=exchange.key,
            ),
        )

    def _append(self, site: CallSite, payload: EventPayload) -> None:
        self._events.append(
            [
                NewEvent.of(
                    payload,
                    stream=llm_stream(site.run_id),
                    week_id=site.week_id,
                    account_id=site.account_id,
                    run_id=site.run_id,
                )
            ]
        )


def cache_key(request: ChatRequest) -> str:
    """Content address of a request: everything that can change the answer, nothing else."""
    material = {
        "model": request.model,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "messages": [m.model_dump() for m in request.messages],
        "schema": request.json_schema,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _sum(a: Usage, b: Usage) -> Usage:
    cost = None if a.cost_usd is None and b.cost_usd is None else (a.cost_usd or 0.0) + (b.cost_usd or 0.0)
    return Usage(
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        cost_usd=cost,
    )
