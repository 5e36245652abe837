"""A live reply that was no answer (cut at max_tokens, empty, withheld, refused, past the context window), kept in
the replay cache as the failure it was.

`ask` (llm/gateway.py) repairs a truncated or empty reply: a truncated one is asked again with room to finish, an empty
one is shown its problem. The repair's answer was cached as any answer is, but the failed reply was not (the cache held
answers only), so a replay of a run that succeeded after such a repair missed at that call: a plain `--replay` stopped
there with ReplayMiss, and `--live-misses` paid for the first answer again, which the model may answer otherwise. So the
failure is cached under the request's key marked (`failed_key`), and a replay raises it again, at no cost: the repair
is then read from the cache, as the live run went. A call that failed whole is cached the same way (its repair's
failure under the repair's key; a content filter or a refusal, which no repair follows, under its own): a backtest
whose run went on without that member (degraded) finished, and a plain `--replay` of its weeks met no answer for it and
stopped (exit 1, "run it live once first"), or with `--live-misses` paid for it again and, answered this time, gave
other books. Under `--live-misses` such a call is asked anew once an invocation (llm/invalid_cached.py), as a call whose
cached answers failed validation is: a backtest stopped on it is not stopped there for good. A temporary failure (an
upstream error, a 5xx, a rate limit) is never cached: the next run asks it again."""

from __future__ import annotations

import json

from pydantic import BaseModel

from llmtrade.llm.recorder import CacheEntry
from llmtrade.llm.structured import AnswerInvalid, parse_answer, repair_prompt, truncation_prompt
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.llm.wire import cache_key
from llmtrade.reply_errors import LLMBadReply, LLMContentFiltered, LLMContextExceeded, LLMEmptyAnswer, LLMTruncated
from llmtrade.storage.llm_cache import AnswerCache, CachedAnswer

# A repair after truncation doubles max_tokens up to this; past it, only "answer shorter" is left.
MAX_REPAIR_TOKENS = 32768

REPAIRED: tuple[type[LLMBadReply], ...] = (LLMTruncated, LLMEmptyAnswer)
# Final for their prompt (OperationalError): the same request meets the same failure, so a replay gives it again.
REPLAYED: tuple[type[LLMBadReply], ...] = (*REPAIRED, LLMContentFiltered, LLMContextExceeded)
REPLAYED_NOTE = "replayed from the cache: the live answer failed so"


FAILED = ":failed"  # the mark of a failed reply's key


def failed_key(key: str) -> str:
    """Where the failed reply to the request of cache key `key` is cached: never a request's key (those are hex)."""
    return f"{key}{FAILED}"


def failure_entry(key: str, model: str, exc: BaseException) -> CacheEntry | None:
    """The cache entry of a live reply that failed for good (`REPLAYED`), None for any other failure (temporary)."""
    if type(exc) not in REPLAYED:
        return None
    text = json.dumps(
        {"error": type(exc).__name__, "message": str(exc), "content": exc.content, "finish_reason": exc.finish_reason}
    )
    return CacheEntry(
        failed_key(key), model, CachedAnswer(text, exc.prompt_tokens, exc.completion_tokens, exc.cost_usd)
    )


def cached_failure(cache: AnswerCache, key: str) -> LLMBadReply | None:
    """The failed reply cached for the request of key `key`, raised again by a replay (at no cost), or None."""
    cached = cache.get(failed_key(key))
    if cached is None:
        return None
    kept = json.loads(cached.content)
    kind = {cls.__name__: cls for cls in REPLAYED}[kept["error"]]
    return kind(
        kept["message"],
        content=kept["content"],
        finish_reason=kept["finish_reason"],
        prompt_tokens=cached.prompt_tokens,
        completion_tokens=cached.completion_tokens,
        cost_usd=0.0,
    )


def truncation_repair(request: ChatRequest) -> tuple[ChatRequest, str]:
    """The repair of `request`'s answer cut at max_tokens, and its event's note: room to finish, a shorter answer."""
    bigger = max(min(request.max_tokens * 2, MAX_REPAIR_TOKENS), request.max_tokens)
    note = (
        f"repair after truncation: max_tokens {request.max_tokens} -> {bigger}, asked for a shorter answer"
        if bigger > request.max_tokens
        else f"repair after truncation: max_tokens already at the cap {bigger}, asked for a shorter answer"
    )
    messages = (*request.messages, ChatMessage(role="user", content=truncation_prompt(bigger)))
    return request.model_copy(update={"max_tokens": bigger, "messages": messages}), note


def empty_repair(request: ChatRequest, problem: str) -> ChatRequest:
    """The repair of `request`'s empty answer, `problem` said."""
    messages = (*request.messages, ChatMessage(role="user", content=repair_prompt(problem)))
    return request.model_copy(update={"messages": messages})


def failed_whole(cache: AnswerCache, request: ChatRequest, output: type[BaseModel] | None) -> bool:
    """Whether a replay of `request` ends failed from the cache: no answer for it and its failure cached, and for a
    structured call (`output`: `ask` repairs a truncated or empty reply) one no repair follows, or one whose repair
    failed too (its failure cached, or its cached answer invalid as `output`)."""
    key = cache_key(request)
    if cache.get(key) is not None:
        return False
    failure = cached_failure(cache, key)
    if failure is None:
        return False
    if output is None or not isinstance(failure, REPAIRED):
        return True
    repair = truncation_repair(request)[0] if isinstance(failure, LLMTruncated) else empty_repair(request, str(failure))
    repaired = cache.get(cache_key(repair))
    if repaired is None:
        return cached_failure(cache, cache_key(repair)) is not None
    try:
        parse_answer(repaired.content, output)
    except AnswerInvalid:
        return True
    return False
