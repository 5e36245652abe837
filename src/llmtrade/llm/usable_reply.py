"""Whether a chat completion's 200 body holds an answer to take, to ask again for, or a final failure.

`usable_reply` reads the body through the reply normaliser (llm/replies.py) and decides what the chat client
(llm/http_client.py) does with it: an answer is returned; an upstream's failure inside the 200 (LLMUpstreamError, but
not LLMNoChoice, which the client asks once more itself) and an empty answer with nothing generated are raised as
Retryable, asked again within the call, each billed on `tally` at what it reported; an answer to a prompt the server cut
to fit its window is LLMContextExceeded (llm/prompt_cut.py), never taken; any other LLMBadReply is raised as it is.
"""

from __future__ import annotations

import json
import math
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


# A count a route relays for a cut call may leave out a token or two of its markup (the end of the call, or of the
# turn, counted by some servers and not others): with arguments that end unclosed, this close to the limit is the limit.
_NEAR = 0.98
# The bytes a token of the upper estimate of a text's tokens (as budget.estimate_prompt_tokens counts a prompt).
_LEAST_BYTES_PER_TOKEN = 3


def unclosed(arguments: Any) -> bool:
    """Whether a call's `arguments` (as sent, a JSON text) end with a string, object or array still open: what a cut
    leaves, not a mistake of form a model makes (a stray comma, single quotes, a bracket closing the wrong thing)."""
    if not isinstance(arguments, str) or not arguments.strip():
        return False
    opened: list[str] = []
    quoted = escaped = False
    for char in arguments:
        if quoted:
            escaped, quoted = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            quoted = True
        elif char in "{[":
            opened.append("}" if char == "{" else "]")
        elif char in "}]" and (not opened or opened.pop() != char):
            return False  # closes what was not open: malformed, not cut
    return quoted or bool(opened)


def _written_most(message: dict[str, Any]) -> int:
    """The most tokens the visible text of a turn (its content, reasoning and calls) can count."""
    texts = [message.get(k) for k in ("content", "reasoning", "reasoning_content")]
    for call in message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            texts += [function.get("name"), function.get("arguments")]
    size = sum(len(text.encode()) for text in texts if isinstance(text, str))
    return math.ceil(size / _LEAST_BYTES_PER_TOKEN)


def _open_calls(message: dict[str, Any]) -> list[str]:
    """The names of the calls in `message` whose arguments end unclosed (`unclosed`)."""
    calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
    return [
        str(call["function"].get("name"))
        for call in calls
        if isinstance(call, dict)
        and isinstance(call.get("function"), dict)
        and unclosed(call["function"].get("arguments"))
    ]


def unclear_cut(data: Any, sent: int | None) -> str | None:
    """For a tool-call turn `cut_tool_turn` did not read as cut: a note when its arguments end unclosed, as a cut
    leaves them, but the reply reported no usage and its text is too short to have filled the `sent` max_tokens alone.
    A model that thinks out of sight may have spent the rest, or it wrote a broken call: nothing tells which, so the
    call goes back to the model as its mistake, and the turn's event says it may have been a cut. None otherwise (a
    usage well under the limit says the model wrote it so)."""
    choices = data.get("choices") if isinstance(data, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    names = _open_calls(message)
    if not names or parse_usage(data).reported:
        return None
    return (
        f"the arguments of {', '.join(names)} end unclosed, as a cut at max_tokens leaves them, but the reply reported "
        f"no usage and its text (at most {_written_most(message)} tokens) is short of the {sent} max_tokens sent: a "
        "cut (the rest spent thinking out of sight) cannot be told from a malformed call; sent back to the model as "
        "its mistake"
    )


def cut_tool_turn(data: Any, sent: int | None, provider: str, model: str) -> LLMTruncated | None:
    """LLMTruncated for a turn that called tools (or said it did) and was cut at max_tokens, else None: said so
    (finish_reason length, or Anthropic's max_tokens and Gemini's MAX_TOKENS, passed on as the native reason), or
    unsaid, its completion tokens at the `sent` max_tokens beside a stop or "tool_calls" (Ollama's /v1 says tool_calls
    whenever it parsed a call, whatever done_reason was; Gemini's MALFORMED_FUNCTION_CALL; vLLM's tool_calls over a
    length stop: vllm-project/vllm#58228). Arguments that end unclosed (`unclosed`) are read as cut beside a count near
    the limit, or with no count beside text that could fill it alone (else `unclear_cut` says why not). A cut call's
    arguments are no JSON the model chose to write: run, or sent back to it as its mistake, they mislead both."""
    choices = data.get("choices") if isinstance(data, dict) else None
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
    stops = {str(choice[k]).strip().lower() for k in ("finish_reason", "native_finish_reason") if choice.get(k)}
    if not calls and not stops & _CALLED:
        return None
    usage = parse_usage(data)
    said = stops & _CUT_WORDS
    opened = _open_calls(message)  # arguments a cut left unclosed: with a count at or near the limit, a cut
    most = _written_most(message)  # with no count: text that could fill the limit alone, beside such arguments
    if usage.reported:
        reached = sent is not None and usage.completion_tokens >= (sent * _NEAR if opened else sent)
        counted = f"{usage.completion_tokens} completion tokens of the {sent} max_tokens sent"
    else:  # no count: the text alone could fill the limit, and the arguments end as a cut leaves them
        reached = sent is not None and bool(opened) and most >= sent
        counted = "no usage reported" + (
            f"; its text, up to {most} tokens, fills the {sent} max_tokens" if reached else ""
        )
    if not said and not (reached and stops <= (_SAID_STOP | _CALLED) - {None}):
        return None
    names = [str(c.get("function", {}).get("name")) for c in calls if isinstance(c, dict)]
    why = ", ".join(f"{k} {choice[k]}" for k in ("finish_reason", "native_finish_reason") if choice.get(k))
    why = why or "no finish_reason"
    written = f"its call of {', '.join(names)}" if names else "the tool call it was writing"
    written += f" (its arguments end unclosed: {', '.join(opened)})" if opened else ""
    text = message.get("content") if isinstance(message.get("content"), str) else ""
    return LLMTruncated(
        f"{provider} ({model}) was cut off at max_tokens in a tool-call turn ({why}; {counted}): {written} is "
        "incomplete, its arguments cut, so no call is run nor sent back to the model as its mistake; raise the "
        "chairman's max_tokens in models.yaml (ask's model; a reasoning model spends part of it thinking)",
        content=json.dumps(calls) if calls else text,
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=usage.cost_usd,
        usage_reported=usage.reported,
    )
