"""The one door every role uses to talk to a model.

It picks the answer's source by mode (a live provider, the offline rules, or the replay cache),
validates structured answers with one repair attempt, records every request as an event, fills
the replay cache, and keeps the run's token and cost totals.

Every call is recorded whatever went wrong: an answer as LLMCallCompleted, anything else (no
answer, a refusal, a reply the normaliser rejected: truncated, filtered, empty, an upstream error)
as LLMCallFailed with what did come back. Structured answers step down by capability: json_schema
strict, then json_object, then JSON asked for in the prompt; the mode a (provider, model) could do
is remembered for the rest of the run, and each event says which mode answered.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TypeVar

from pydantic import BaseModel

from llmtrade.clock import Timer
from llmtrade.config.models import ModelRef, Price
from llmtrade.domain.events import EventPayload, EventSink, NewEvent
from llmtrade.domain.streams import llm_stream
from llmtrade.errors import (
    BudgetExceeded,
    InvalidLLMOutput,
    LLMRequestRejected,
    LLMUnavailable,
    ReplayMiss,
    StructuredOutputRefused,
)
from llmtrade.llm.budget import Budget, BudgetRefused, Hold, billed_cost, billed_of, cut_off_of
from llmtrade.llm.call_records import (
    BilledAttempts,
    billed_if_cancelled,
    billed_on,
    call_cost,
    completed_values,
    failed_cost,
    failed_record,
    priced,
)
from llmtrade.llm.invalid_cached import ask_anew, repair_of
from llmtrade.llm.offline_path import SeededOnUse, completed_event, parsed, request_of
from llmtrade.llm.recorder import CacheEntry, Recorder
from llmtrade.llm.records import FREE, NO_USAGE, Answer, CallSite, Exchange, UsageTotals, sum_usage
from llmtrade.llm.repaired_failures import (
    REPLAYED_NOTE,
    cached_failure,
    empty_repair,
    failure_entry,
    truncation_repair,
)
from llmtrade.llm.sources import LLMMode, ProviderClient
from llmtrade.llm.structured import BOUND_REFUSED, AnswerInvalid, format_ignored, parse_answer
from llmtrade.llm.types import RESPONSE_MODES, ChatMessage, ChatReply, ChatRequest, ResponseMode, Usage
from llmtrade.llm.wire import cache_key, in_mode
from llmtrade.reply_errors import LLMBadReply, LLMEmptyAnswer, LLMTruncated
from llmtrade.storage.llm_cache import AnswerCache, CachedAnswer

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class LLMGateway:
    def __init__(
        self,
        *,
        mode: LLMMode,
        clients: Mapping[str, ProviderClient],
        prices: Mapping[str, Price],
        events: EventSink,
        cache: AnswerCache | None,
        budget: Budget | None = None,
        misses_go_live: bool = False,
        asked_anew: set[str] | None = None,
        records_inline: bool = False,
        timer: Timer = time.perf_counter,
    ):
        """`misses_go_live` (REPLAY only): a cache miss is sent to the live model (through `clients`, under
        `budget`) and cached, instead of raising ReplayMiss; so is a call whose cached answers failed validation, once
        an invocation (`asked_anew`: the requests' keys, shared by its runs; llm/invalid_cached.py).
        `records_inline`: the call records are stored on the event loop, not on a worker thread (llm/recorder.py), for
        a store that holds its appends in memory.
        `timer`: what an offline answer's latency is measured on (clock.py Timer; a backtest's clock stands still)."""
        self.mode = mode
        self._misses_go_live = misses_go_live
        self._asked_anew = set() if asked_anew is None else asked_anew
        self._clients = dict(clients)
        self._prices = dict(prices)
        self._events = events
        self._timer = timer
        self._cache = cache
        self._recorder = Recorder(events, cache, inline=records_inline)
        self.budget = budget or Budget.unlimited()
        self.totals = UsageTotals()
        # (provider, model) -> the strongest response format it accepted (or the last left) this run.
        self.response_modes: dict[tuple[str, str], ResponseMode] = {}

    def provider_settings(self) -> dict[str, str]:
        """Each provider's settings that can change an answer, by name (none offline: the rules answer)."""
        return {name: client.answer_settings for name, client in self._clients.items()}

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def ask_text(
        self, ref: ModelRef, messages: Sequence[ChatMessage], site: CallSite, *, rules: Callable[[random.Random], str]
    ) -> Answer[str]:
        """A free-text answer."""
        request = self._request(ref, messages, None)
        renewing = self._cache if self.mode is LLMMode.REPLAY and self._misses_go_live else None
        note = ask_anew(renewing, self._asked_anew, request, None) if renewing is not None else None
        exchange = await self._exchange(ref, request, site, lambda rng: rules(rng), note=note, fresh=note is not None)
        await self._record(site, ref, request, exchange, outcome="ok")
        return Answer(exchange.content, ref.model, exchange.usage)

    async def ask(
        self,
        ref: ModelRef,
        messages: Sequence[ChatMessage],
        site: CallSite,
        *,
        output: type[M],
        rules: Callable[[random.Random], M | str],
    ) -> Answer[M]:
        """A structured answer validated into `output`, with one repair attempt on invalid output. `rules` (the
        offline answer) gives a model, or the JSON text of one: the answer recorded, validated from that text as a
        model's answer is (a rule's mistake is an invalid answer, never taken unchecked)."""
        request = self._request(ref, messages, output)

        def rendered(rng: random.Random) -> str:
            answer = rules(rng)
            return answer if isinstance(answer, str) else answer.model_dump_json()

        problem: str
        failure: LLMTruncated | LLMEmptyAnswer | None = None  # a first reply repaired though no answer
        # Cached answers that failed validation, or a cached reply that failed for good: asked anew (invalid_cached.py).
        renewing = self._cache if self.mode is LLMMode.REPLAY and self._misses_go_live else None
        note = ask_anew(renewing, self._asked_anew, request, output) if renewing is not None else None
        fresh = note is not None
        spent = NO_USAGE  # the first answer's tokens, when one came (a rejected reply is counted where recorded)
        try:
            first = await self._exchange(ref, request, site, rendered, note=note, fresh=fresh)
        except LLMTruncated as exc:
            # Recorded as failed already; ask again with room to finish, and for less.
            repair, note = truncation_repair(request)
            problem, failure = str(exc), exc
        except LLMEmptyAnswer as exc:
            note = "repair after an empty answer"
            problem, failure = str(exc), exc
            repair = empty_repair(request, problem)
        else:
            try:
                value = parsed(first.content, first.source, output)
            except AnswerInvalid as exc:
                problem = str(exc)
                await self._record(site, ref, request, first, outcome="invalid", problem=problem)
                asked_in = first.reply.response_mode if first.reply is not None else None
                if ignored := format_ignored(self.response_modes, (first.provider, ref.model), asked_in, exc):
                    note = f"{note}; {ignored}" if note else ignored  # this call's repair asked so on
            else:
                await self._record(site, ref, request, first, outcome="ok")
                return Answer(value, ref.model, first.usage)
            spent = first.usage
            repair = repair_of(request, first.content, problem)

        second = await self._exchange(ref, repair, site, rendered, note=note, fresh=fresh)
        try:
            value = parse_answer(second.content, output)
        except AnswerInvalid as again:
            await self._record(site, ref, repair, second, outcome="invalid", problem=str(again))
            raise InvalidLLMOutput(ref.model, site.role, str(again), second.content) from None
        # The repair's answer fetched live is cached with the failure it repaired (cached when it failed, too), so a
        # replay meets the failure again and then this answer, as the run did (llm/repaired_failures.py).
        repaired = failure_entry(cache_key(request), ref.model, failure) if second.entry and failure else None
        await self._record(site, ref, repair, second, outcome="repaired", problem=problem, also=repaired)
        return Answer(value, ref.model, sum_usage(spent, second.usage), repaired=True)

    # ------------------------------------------------------------------ internals

    def _request(self, ref: ModelRef, messages: Sequence[ChatMessage], output: type[BaseModel] | None) -> ChatRequest:
        return request_of(ref.model, tuple(messages), ref.temperature, ref.max_tokens, output)

    async def _exchange(
        self,
        ref: ModelRef,
        request: ChatRequest,
        site: CallSite,
        rules: Callable[[random.Random], str],
        *,
        note: str | None = None,
        fresh: bool = False,
    ) -> Exchange:
        """`fresh` (REPLAY, misses going live): asked live whatever the cache holds (invalid_cached.py)."""
        key = cache_key(request)
        if self.mode is LLMMode.OFFLINE:
            started = self._timer()
            # Seeded by the request, so the same inputs always give the same stand-in answer.
            content = rules(SeededOnUse(int(key[:16], 16)))  # type: ignore[arg-type]
            latency = (self._timer() - started) * 1000
            return Exchange(content, FREE, "rules", "rules", 1, latency, key)
        if self.mode is LLMMode.REPLAY:
            cached = self._cache.get(key) if self._cache and not fresh else None
            if cached is not None:
                usage = Usage(
                    prompt_tokens=cached.prompt_tokens, completion_tokens=cached.completion_tokens, cost_usd=0.0
                )
                return Exchange(cached.content, usage, "cache", "cache", 0, 0.0, key)
            # A truncated or empty live reply `ask` repaired: raised again, so the cached repair follows it.
            failure = cached_failure(self._cache, key) if self._cache and not fresh else None
            if failure is not None:
                record = failed_record(
                    site.role,
                    ref.model,
                    "cache",
                    request,
                    key,
                    failure,
                    mode=None,
                    note=REPLAYED_NOTE,
                    used=None,
                    counted=None,
                )
                await self._append(site, record)
                raise failure
            if not self._misses_go_live:
                raise ReplayMiss(
                    f"--replay: no cached answer for the {site.role} call to {ref.model} (key {key[:12]}); "
                    "run it live once first (without --replay), or in a backtest let misses ask the live model "
                    "(--live-misses USD)"
                )
        client = self._clients[ref.provider]
        hold = await self._reserve(site, ref, request)
        try:
            reply, note = await self._send(client, ref, request, site, key, note, hold)
        except BaseException as exc:  # a bad reply's tokens were billed, and so were attempts failed after a 200
            used, counted = failed_cost(self._prices.get(ref.model), hold, exc)
            # A cost unknown (no usage, an attempt cut off) settles at the worst case held, never at $0.
            self.budget.settle(hold, counted if counted is not None else (used.cost_usd if used else 0.0))
            raise
        answer = priced(self._prices.get(ref.model), reply.usage)
        # The call's cost: its answer's and its attempts' billed before it (unknown when one was cut off).
        usage, counted = call_cost(self._prices.get(ref.model), hold, (reply.usage, *reply.billed), reply.cut_off)
        self.budget.settle(hold, usage.cost_usd if counted is None else counted)
        # Cached with the call's record (one batch, off the event loop): see llm/recorder.py.
        entry = CacheEntry(
            key, ref.model, CachedAnswer(reply.content, answer.prompt_tokens, answer.completion_tokens, answer.cost_usd)
        )
        fields = (reply.content, usage, "live", reply.provider, reply.attempts, reply.latency_ms, key, reply, note)
        return Exchange(*fields, entry, counted)

    async def _reserve(self, site: CallSite, ref: ModelRef, request: ChatRequest) -> Hold | None:
        """Hold the call's worst cost under the budget, or record the refusal and stop the run (llm/budget.py)."""
        held = self.budget.reserve_request(site.role, request)
        if isinstance(held, BudgetRefused):
            await self._append(site, held)
            raise BudgetExceeded(f"{site.role} call to {ref.model} not sent: {held.reason}")
        return held

    async def _send(
        self,
        client: ProviderClient,
        ref: ModelRef,
        request: ChatRequest,
        site: CallSite,
        key: str,
        note: str | None,
        hold: Hold | None = None,
    ) -> tuple[ChatReply, str | None]:
        """Send in the strongest response format this (provider, model) accepts, stepping down on refusal;
        returns the reply and the note for its event (which format was refused, if any)."""
        remembered = (client.name, ref.model)
        # Attempts billed under a response format the provider then refused (cut off, or usages): billed all the same.
        cut_before, billed_before = 0, ()
        while True:
            wire = request
            mode: ResponseMode | None = None
            if request.json_schema is not None:
                first: ResponseMode = "json_schema" if client.structured_outputs else "json_object"
                mode = self.response_modes.get(remembered, first)
                wire = in_mode(request, mode)
            before = partial(self._hold_per_attempt, site, ref, hold, cut_before, billed_before)
            try:
                reply = await client.send(wire, before_attempt=before)
            except asyncio.CancelledError as exc:  # SIGTERM, a sibling failing: attempts billed before it still count
                billed_on(exc, cut_before, billed_before)
                self.totals.requests += getattr(exc, "attempts", 0)
                if cut_off_of(exc) or billed_of(exc):
                    try:  # the record is queued before the first wait: a second cancellation cuts only the wait
                        with billed_if_cancelled(cut_off_of(exc), billed_of(exc)):
                            await self._failed(site, ref, client.name, wire, key, exc, mode=mode, note=note, hold=hold)
                    except Exception as error:  # a store failing must not turn the cancellation into its error
                        raise exc from error
                raise
            except (LLMUnavailable, LLMRequestRejected, LLMBadReply, BudgetExceeded) as exc:
                self.totals.requests += exc.attempts
                if not isinstance(exc, StructuredOutputRefused):
                    exc.cut_off += cut_before
                    exc.billed = (*billed_before, *exc.billed)
                    with billed_if_cancelled(exc.cut_off, exc.billed):
                        await self._failed(site, ref, client.name, wire, key, exc, mode=mode, note=note, hold=hold)
                    raise
                cut_before, exc.cut_off = cut_before + exc.cut_off, 0
                billed_before, exc.billed = (*billed_before, *exc.billed), ()
                with billed_if_cancelled(cut_before, billed_before):
                    await self._failed(site, ref, client.name, wire, key, exc, mode=mode, note=note)
                later = RESPONSE_MODES[RESPONSE_MODES.index(mode) + 1 :] if mode else ()
                if mode == "json_schema" and not BOUND_REFUSED.search(str(exc)):
                    later = later[1:]  # the format itself refused, not a bound keyword: its core would be refused too
                if not later:
                    raise
                self.response_modes[remembered] = later[0]
                step = f"{mode} refused by the provider; asked again in {later[0]} mode"
                note = f"{note}; {step}" if note else step
            else:
                self.totals.requests += reply.attempts
                if reply.reasked:
                    note = f"{note}; {reply.reasked}" if note else reply.reasked
                if cut_before or billed_before:
                    update = {"cut_off": reply.cut_off + cut_before, "billed": (*billed_before, *reply.billed)}
                    reply = reply.model_copy(update=update)
                return reply, note

    async def _hold_per_attempt(
        self, site: CallSite, ref: ModelRef, hold: Hold | None, cut: int, billed: Sequence[Usage], now: BilledAttempts
    ) -> None:
        """Before an attempt, hold what the attempts billed before it (under an earlier response format: `cut`,
        `billed`; and this one: `now`) may count (a reported cost, else a worst case) and a worst case for this one, so
        calls in flight never together pass a ceiling; else record the refusal and end the call (BudgetExceeded)."""
        costs = [priced(self._prices.get(ref.model), usage).cost_usd for usage in (*billed, *now.billed)]
        if hold is None or not (costs or cut + now.cut_off):
            return
        refused = self.budget.extend(site.role, hold, hold.amount + billed_cost(hold, costs, cut + now.cut_off))
        if refused is not None:
            await self._append(site, refused)
            count = len(costs) + cut + now.cut_off
            raise BudgetExceeded(
                f"{site.role} call to {ref.model}: no retry sent after {count} billed attempt(s): {refused.reason}"
            )

    async def _failed(
        self,
        site: CallSite,
        ref: ModelRef,
        provider: str,
        request: ChatRequest,
        key: str,
        exc: BaseException,
        *,
        mode: ResponseMode | None,
        note: str | None,
        hold: Hold | None = None,
    ) -> None:
        used, counted = failed_cost(self._prices.get(ref.model), hold, exc)
        if used is not None:  # billed though unusable (or cut off, or an error after its 200): in the run's totals
            self.totals.add(ref.model, used, counted=counted)
        record = failed_record(
            site.role, ref.model, provider, request, key, exc, mode=mode, note=note, used=used, counted=counted
        )
        # A failure final for its prompt is cached as such, so a replay meets it as the run did (repaired_failures.py).
        await self._append(site, record, failure_entry(key, ref.model, exc))

    async def _record(
        self,
        site: CallSite,
        ref: ModelRef,
        request: ChatRequest,
        exchange: Exchange,
        *,
        outcome: str,
        problem: str | None = None,
        also: CacheEntry | None = None,
    ) -> None:
        """`also`: a cache entry stored with the call's record and answer (the failure a repair answered)."""
        self.totals.add(ref.model, exchange.usage, rules=exchange.source == "rules", counted=exchange.counted)
        values = completed_values(site.role, ref.model, request, exchange, outcome=outcome, problem=problem)
        # Built as NewEvent.of(LLMCallCompleted(**values)) builds it, in one step (llm/offline_path.py).
        event = completed_event(
            values, stream=llm_stream(site.run_id), week_id=site.week_id, account_id=site.account_id, run_id=site.run_id
        )
        await self._recorder.write(event, exchange.entry, also)

    async def _append(self, site: CallSite, payload: EventPayload, entry: CacheEntry | None = None) -> None:
        """Returns once the call's record (and `entry`, in the replay cache) is stored; llm/recorder.py."""
        stream, run = llm_stream(site.run_id), site.run_id
        event = NewEvent.of(payload, stream=stream, week_id=site.week_id, account_id=site.account_id, run_id=run)
        await self._recorder.write(event, entry)
