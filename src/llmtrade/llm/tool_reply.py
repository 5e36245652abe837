"""What one `ask` turn's 200 says (llm/tool_chat.py sends it and records it): the model's text, or the tools it called
with their arguments as sent, or the typed failure the body holds. Read as the gateway reads a reply (llm/replies.py,
llm/usable_reply.py, llm/prompt_cut.py), so a turn cut off, withheld, refused or answered to a cut prompt is never
taken for the model's answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx

from llmtrade.errors import LLMRequestRejected, LLMUnavailable
from llmtrade.llm.body_errors import body_error, choice_error, error_detail
from llmtrade.llm.error_codes import error_status
from llmtrade.llm.http_errors import body_text
from llmtrade.llm.prompt_cut import called, refuse_cut
from llmtrade.llm.replies import normalise_reply, nothing_generated, parse_usage, stop_failure
from llmtrade.llm.usable_reply import cut_tool_turn, refuse_unsaid_cut, unclear_cut
from llmtrade.reply_errors import LLMEmptyAnswer, LLMTruncated

# Raises what an error status inside the 200 means (ToolChat._refused): status, reason, response, the error found.
Refused = Callable[[int, str, httpx.Response, Any], NoReturn]


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # as sent: a JSON object in a string, or anything else a model wrote there


def read_turn(
    data: Any,
    response: httpx.Response,
    least: int,
    *,
    offered: bool,
    sent: int,
    provider: str,
    model: str,
    context_tokens: int | None,
    reasoning_as_answer: bool,
    refused: Refused,
) -> tuple[str | None, list[ToolCall], dict[str, Any], str | None]:
    """The turn's text (None beside tool calls), tool calls, assistant message and a doubt for its event's note (calls
    that may have been cut: usable_reply.unclear_cut) from a 200's body; raises
    LLMUnavailable (not JSON, or an error inside the 200 whose code a retry may mend), LLMRequestRejected (a
    message it cannot read, or an error whose code is final) or an LLMBadReply (llm/replies.py: cut off, withheld,
    refused, empty, stopped upstream, no choice at all)."""
    if data is None:
        said = body_text(response)
        raise LLMUnavailable(f"{provider} answered {model} with a body that is not JSON: {said!r}")
    error = body_error(data) or choice_error(data)
    if isinstance(error, dict):
        # Judged by its code as a status would be (as the chat client does): 5xx, 408, 429 temporary, 4xx final.
        code = error_status(error)
        if code is not None and code >= 400:
            refused(code, error_detail(error), response, error)
    try:
        message = data["choices"][0]["message"]
        for call in message.get("tool_calls") or []:
            # llama.cpp's server (--tool-args-object) and TGI send the arguments as a JSON object, not OpenAI's JSON
            # string: read as its JSON, and sent back as a string, which strict servers require.
            if isinstance(call["function"].get("arguments"), (dict, list)):
                call["function"]["arguments"] = json.dumps(call["function"]["arguments"])
        calls = [
            ToolCall(str(c.get("id", "")), str(c["function"]["name"]), str(c["function"].get("arguments") or ""))
            for c in message.get("tool_calls") or []
            if offered  # a call on a turn offered no tool (some servers parse one out of any text) is no answer
        ]
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        # Read as the gateway reads it, with the provider's words: an error naming no status (an upstream failure),
        # a prompt blocked, or no choice at all (Google's 200 for a blocked prompt or a candidate with no content)
        # is LLMUpstreamError, temporary; not a Python error's repr in a final refusal.
        normalise_reply(data, provider=provider, model=model)
        raise LLMRequestRejected(f"{provider} answered {model} with no message: {exc!r}") from None
    # An answer to a conversation the server cut to fit its window (Ollama past num_ctx) is none (prompt_cut.py),
    # a tool call made on what was left of it (its start, the tools first, shifted out) no more than a text.
    usage = parse_usage(data)
    # A final text is read as the gateway reads one: cut off, withheld, refused, empty or stopped upstream is a
    # failed turn with the provider's reason, never the answer `ask` prints; tool calls ended so were cut short.
    # A tool-call turn cut at max_tokens, said so or not (usable_reply.cut_tool_turn), is never run.
    if offered and (cut := cut_tool_turn(data, sent, provider, model)) is not None:
        refuse_cut(data, usage, least, context_tokens, provider, model, cut)  # or the window's
        raise cut
    if calls:
        unfinished = stop_failure(data, provider=provider, model=model)
        if unfinished is None or isinstance(unfinished, LLMTruncated):  # cut as the window filled
            refuse_cut(data, usage, least, context_tokens, provider, model, unfinished or called(data))
        if unfinished is not None:
            raise unfinished
        content = message.get("content")
        # Arguments that end as a cut leaves them, where nothing tells a cut from a broken call: sent back, said so.
        return (content if isinstance(content, str) else None), calls, message, unclear_cut(data, sent)
    try:
        normal = normalise_reply(data, provider=provider, model=model, reasoning_as_answer=reasoning_as_answer)
    except LLMTruncated as exc:  # as the gateway reads it (llm/usable_reply.py): the window, not max_tokens
        refuse_cut(data, usage, least, context_tokens, provider, model, exc)
        raise
    except LLMEmptyAnswer as exc:
        if not nothing_generated(exc):
            raise
        # Nothing generated at all (Gemini's empty "stop", a model warming up): what the committee's client asks
        # again within the call (llm/usable_reply.py), so temporary here too, not the model's answer.
        raise LLMUnavailable(f"{exc}, nothing generated (no completion token): ask again") from None
    refuse_cut(data, normal.usage, least, context_tokens, provider, model, normal)
    refuse_unsaid_cut(normal, sent, provider, model)  # a cut a server calls a stop (usable_reply.py)
    return normal.text, calls, message, None
