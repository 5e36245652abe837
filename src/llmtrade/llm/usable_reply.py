"""Whether a chat completion's 200 body holds an answer to take, to ask again for, or a final failure.

`usable_reply` reads the body through the reply normaliser (llm/replies.py) and decides what the chat client
(llm/http_client.py) does with it: an answer is returned; an upstream's failure inside the 200 (LLMUpstreamError, but
not LLMNoChoice, which the client asks once more itself) and an empty answer with nothing generated are raised as
Retryable, asked again within the call, each billed on `tally` at what it reported; an answer to a prompt the server cut
to fit its window is LLMContextExceeded (llm/prompt_cut.py), never taken; any other LLMBadReply is raised as it is.
"""

from __future__ import annotations

import json
from typing import Any

from llmtrade.llm.call_records import BilledAttempts, spent_by
from llmtrade.llm.http_errors import Retryable
from llmtrade.llm.prompt_cut import refuse_cut
from llmtrade.llm.replies import NormalReply, normalise_reply, nothing_generated, parse_usage
from llmtrade.reply_errors import LLMEmptyAnswer, LLMNoChoice, LLMTruncated, LLMUpstreamError


def usable_reply(
    data: Any,
    *,
    provider: str,
    model: str,
    reasoning_as_answer: bool,
    context: int | None,
    tally: BilledAttempts,
    least: int,
    sent: int | None = None,
) -> NormalReply:
    """The answer in `data`. An upstream's failure in it (LLMUpstreamError) is asked again within the call, billed
    at what it reported, and so is an empty one with nothing generated: a model warming up or its provider scaling
    (openrouter.ai/docs/api-reference/errors, "When No Content is Generated"). An answer to a prompt the server
    cut to fit its window (`context` tokens; `least`, a floor of the prompt's) is LLMContextExceeded, never taken."""
    try:
        normal = normalise_reply(data, provider=provider, model=model, reasoning_as_answer=reasoning_as_answer)
    except LLMTruncated as exc:  # cut at max_tokens as the window filled: the prompt's start shifted out too
        refuse_cut(data, spent_by(exc), least, context, provider, model, exc)
        raise
    except LLMUpstreamError as exc:
        if isinstance(exc, LLMNoChoice):
            raise  # asked once more, then final (http_client `send`): not a wait
        # An error in the 200 naming no status, a choice ended by "error" or another upstream stop: the upstream's
        # transient failure (openrouter.ai/docs/api-reference/errors), asked again as an in-body 5xx is.
        tally.bill(spent_by(exc))
        raise Retryable(str(exc)) from None
    except LLMEmptyAnswer as exc:
        if not nothing_generated(exc):
            raise
        tally.bill(spent_by(exc))
        raise Retryable(f"{exc}, nothing generated (no completion token)") from None
    refuse_cut(data, normal.usage, least, context, provider, model, normal)
    refuse_unsaid_cut(normal, sent, provider, model)
    return normal


# The words of a stop that a server may put where the limit cut the answer (LocalAI's "stop": mudler/LocalAI#3533;
# litellm's Ollama route, which never read done_reason: BerriAI/litellm#25825), or no word at all.
_SAID_STOP = frozenset({None, "stop", "eos", "end_turn"})


def refuse_unsaid_cut(normal: NormalReply, sent: int | None, provider: str, model: str) -> None:
    """Raise LLMTruncated for an answer of exactly the `sent` max_tokens whose finish reason says it stopped: the
    limit cut it, whatever the server said (a text that ended of itself on the limit's very token is as rare as it is
    harmless to ask again). A cut answer is never taken; a structured one is asked again with room to finish."""
    finish = normal.finish_reason.strip().lower() if normal.finish_reason is not None else None
    usage = normal.usage
    if sent is None or not usage.reported or usage.completion_tokens != sent or finish not in _SAID_STOP:
        return
    said = f"said finish_reason {normal.finish_reason}" if normal.finish_reason is not None else "gave no finish_reason"
    raise LLMTruncated(
        f"{provider} ({model}) wrote exactly its max_tokens ({sent} completion tokens) and {said}: cut off at "
        f"max_tokens all the same ({len(normal.text)} characters of answer), the answer is incomplete",
        content=normal.text,
        reasoning=normal.reasoning,
        finish_reason=normal.finish_reason,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=usage.cost_usd,
        usage_reported=usage.reported,
    )


# How a turn that called tools (or tried to) says it ended: OpenAI's tool_calls (function_call of old), Anthropic's
# tool_use, Gemini's MALFORMED_FUNCTION_CALL (a call it could not finish writing, often one cut by the limit).
_CALLED = frozenset({"tool_calls", "function_call", "tool_use", "malformed_function_call"})
_CUT_WORDS = frozenset({"length", "max_tokens", "max_output_tokens"})


def cut_tool_turn(data: Any, sent: int | None, provider: str, model: str) -> LLMTruncated | None:
    """LLMTruncated for a turn that called tools (or said it did) and was cut at max_tokens, else None: said so
    (finish_reason length, or Anthropic's max_tokens and Gemini's MAX_TOKENS, passed on as the native reason), or
    unsaid, its completion tokens at the `sent` max_tokens beside a stop or "tool_calls" (Ollama's /v1 says tool_calls
    whenever it parsed a call, whatever done_reason was; Gemini's MALFORMED_FUNCTION_CALL). A cut call's arguments are
    no JSON the model chose to write: run as a call or sent back to it as its mistake, they mislead both."""
    choices = data.get("choices") if isinstance(data, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
    stops = {str(choice[k]).strip().lower() for k in ("finish_reason", "native_finish_reason") if choice.get(k)}
    if not calls and not stops & _CALLED:
        return None
    usage = parse_usage(data)
    said = stops & _CUT_WORDS
    reached = sent is not None and usage.reported and usage.completion_tokens >= sent
    if not said and not (reached and stops <= (_SAID_STOP | _CALLED) - {None}):
        return None
    names = [str(c.get("function", {}).get("name")) for c in calls if isinstance(c, dict)]
    why = ", ".join(f"{k} {choice[k]}" for k in ("finish_reason", "native_finish_reason") if choice.get(k))
    why = why or "no finish_reason"
    written = f"its call of {', '.join(names)}" if names else "the tool call it was writing"
    text = message.get("content") if isinstance(message.get("content"), str) else ""
    return LLMTruncated(
        f"{provider} ({model}) was cut off at max_tokens in a tool-call turn ({why}; {usage.completion_tokens} "
        f"completion tokens of the {sent} max_tokens sent): {written} is incomplete, its arguments cut, so no call is "
        "run nor sent back to the model as its mistake; raise the chairman's max_tokens in models.yaml (ask's model; "
        "a reasoning model spends part of it thinking)",
        content=json.dumps(calls) if calls else text,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=usage.cost_usd,
        usage_reported=usage.reported,
    )
