"""A replayed call whose cached answers failed validation: under `--replay --live-misses USD` it counts as a miss.

The replay cache keeps every live answer as the model gave it, an invalid one too (a replay gives what the model said,
and the repair is asked from it). A call whose cached answer and cached repair both failed validation ends invalid on
every replay: a backtest stopped on it (a trial's research providers answering prose) met the same stop with every
`--replay` of that week, under any name, and `--live-misses` never bought a fresh answer, since nothing missed. So with
misses going live, such a call is asked anew (llm/gateway.py), within the budget; the fresh answers replace the invalid
ones in the cache (newest wins), and a replay then gives them. A call whose repair succeeded is replayed as it was: a
replay of a run that succeeded gives the same answers."""

from __future__ import annotations

from pydantic import BaseModel

from llmtrade.llm.repaired_failures import failed_whole
from llmtrade.llm.structured import AnswerInvalid, parse_answer, repair_prompt
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.llm.wire import cache_key
from llmtrade.storage.llm_cache import AnswerCache

ASKED_ANEW = "asked anew under --live-misses: its cached answer and the cached repair failed validation"
ASKED_ANEW_FAILED = "asked anew under --live-misses: its cached live reply failed for good (no usable answer cached)"


def repair_of(request: ChatRequest, content: str, problem: str) -> ChatRequest:
    """The repair of `request`'s answer `content`, invalid for `problem`: the model shown its answer and the error."""
    repair = (ChatMessage(role="assistant", content=content), ChatMessage(role="user", content=repair_prompt(problem)))
    return request.model_copy(update={"messages": (*request.messages, *repair)})


def failed_in_cache(cache: AnswerCache, request: ChatRequest, output: type[BaseModel]) -> bool:
    """Whether the cache holds `request`'s answer and its repair's, both invalid as `output`: a replay of the call would
    end in InvalidLLMOutput (llm/gateway.py `ask`). False when either is missing (a plain miss) or either is valid."""
    first = cache.get(cache_key(request))
    if first is None:
        return False
    try:
        parse_answer(first.content, output)
    except AnswerInvalid as exc:
        problem = str(exc)
    else:
        return False
    second = cache.get(cache_key(repair_of(request, first.content, problem)))
    if second is None:
        return False
    try:
        parse_answer(second.content, output)
    except AnswerInvalid:
        return True
    return False


def ask_anew(cache: AnswerCache, asked: set[str], request: ChatRequest, output: type[BaseModel] | None) -> str | None:
    """The note of `request` asked anew, noted in `asked` (the invocation's keys asked anew), or None: its cached
    answers failed validation (`failed_in_cache`), or its cached reply failed for good (llm/repaired_failures.py;
    `output` None: a free-text call, which no repair follows). Once an invocation: a look-ahead audit's cut-off rerun
    asks it just before the real run, which must replay what the rerun got (asked again, a different answer would
    read as a look-ahead leak, and it would be paid for twice)."""
    key = cache_key(request)
    if key in asked:
        return None
    if output is not None and failed_in_cache(cache, request, output):
        note = ASKED_ANEW
    elif failed_whole(cache, request, output):
        note = ASKED_ANEW_FAILED
    else:
        return None
    asked.add(key)
    return note
