"""One reply normaliser: every shape an OpenAI-compatible server answers with becomes either a clean
answer or a typed error that carries the provider's own reason.

Shapes seen in the wild (OpenAI, OpenRouter and the providers behind it, vLLM, Ollama):
- `message.content` a string, null, or a list of parts (`{"type": "text", "text": ...}`);
- the text only in `message.reasoning` / `reasoning_content` (reasoning models with a small budget);
- a `<think>...</think>` block before the answer (DeepSeek-R1, Qwen3 without a reasoning parser), or
  only the closing tag when the chat template opened the block in the prompt;
- `message.refusal` set instead of content, or beside it (a refusal all the same);
- `finish_reason` "length" (cut at max_tokens), "content_filter", "error" (OpenRouter relays an
  upstream failure inside an HTTP 200, with `choices[].error`), "tool_calls"; or the upstream's own
  words in it or in `native_finish_reason` (Gemini's MAX_TOKENS, SAFETY, RECITATION, OTHER; Anthropic's
  max_tokens, refusal, pause_turn), beside a "stop" that hides them;
- Gemini's `promptFeedback.blockReason` and no choice: the prompt was blocked (an empty `choices` alone: LLMNoChoice);
- an HTTP 200 whose body is an error object and no choices at all.
Nothing here raises anything but LLMBadReply subclasses: a reply we cannot read is a failed call,
never a traceback.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from llmtrade.llm.body_errors import RAW_LIMIT, body_error, choice_error, error_detail
from llmtrade.llm.types import Usage
from llmtrade.reply_errors import (
    LLMBadReply,
    LLMContentFiltered,
    LLMContextExceeded,
    LLMEmptyAnswer,
    LLMNoChoice,
    LLMTruncated,
    LLMUpstreamError,
)

# Opening tag at the very start (after whitespace); some templates emit only the closing tag.
_THINK = re.compile(r"^\s*<(think|thinking|reasoning)>(.*?)</\1>\s*", re.DOTALL | re.IGNORECASE)
_UNCLOSED = re.compile(r"^\s*<(think|thinking|reasoning)>(.*)$", re.DOTALL | re.IGNORECASE)
_CLOSE_ONLY = re.compile(r"^(.*?)</(think|thinking|reasoning)>\s*", re.DOTALL | re.IGNORECASE)
_TEXT_PART_TYPES = frozenset({"text", "output_text"})
_REASONING_PART_TYPES = frozenset({"reasoning", "thinking"})
# Why a model stopped, read lower-cased from `finish_reason` and OpenRouter's `native_finish_reason` alike: routes and
# servers pass the upstream's own words through in either (Google's OpenAI-compatible endpoint answers "SAFETY" or
# "MAX_TOKENS" as the finish_reason; OpenRouter may say "stop" beside a native "refusal" or "RECITATION"). A text that
# ended so is not a whole answer, however much of it came.
_TRUNCATION = frozenset({"length", "max_tokens", "max_output_tokens"})
# Cut off because the prompt and the answer filled the model's context window (Anthropic's
# model_context_window_exceeded, relayed by OpenRouter; Mistral's model_length): unlike a max_tokens cut, more room to
# answer is none to give, so it is no truncation to repair.
_CONTEXT_FULL = frozenset(
    {"model_context_window_exceeded", "context_window_exceeded", "context_length_exceeded", "model_length"}
)
# Withheld by a filter or refused by the model: Gemini's SAFETY, RECITATION, BLOCKLIST, PROHIBITED_CONTENT, SPII,
# LANGUAGE and image kin; Anthropic's "refusal"; Bedrock's guardrail. Asking the same again meets the same filter
# (but for RECITATION, asked once more: _RECITED).
_WITHHELD = frozenset(
    {
        "content_filter",
        "content_filtered",
        "safety",
        "recitation",
        "blocklist",
        "prohibited_content",
        "spii",
        "language",
        "image_safety",
        "image_prohibited_content",
        "image_recitation",
        "refusal",
        "guardrail_intervened",
        "model_armor",  # Vertex's Model Armor screened the answer
    }
)
# Gemini's recitation check (the answer came too close to a text it was trained on) is not deterministic: at a
# temperature above 0 the same request often answers whole the next time (google/generative-ai-docs#257 and others),
# so a call asks once more before it is final (llm/http_client.py). SAFETY, PROHIBITED_CONTENT and a refusal meet
# the same filter again and stay final at once.
_RECITED = frozenset({"recitation", "image_recitation"})
# Stopped by the provider's side for no reason of the answer's: an upstream error, Gemini's OTHER, unspecified,
# malformed response and the rest of its FinishReason that ends no whole text (tool calls malformed, unexpected or too
# many, a thought signature missing, its image kin), Anthropic's pause_turn (a turn left unfinished), vLLM's abort,
# DeepSeek's insufficient_system_resource (generation interrupted). Another attempt may succeed.
_BROKEN = (
    frozenset({"error", "other", "finish_reason_unspecified", "pause_turn", "abort", "insufficient_system_resource"})
    | frozenset({"malformed_response", "malformed_function_call", "unexpected_tool_call", "too_many_tool_calls"})
    | frozenset({"missing_thought_signature", "image_other", "no_image"})
)

# A reply with no usage: what it cost is unknown (a budget counts its worst case), never taken as $0.
_UNREPORTED = Usage(reported=False)


class NormalReply(BaseModel):
    """A usable answer, and what came with it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    text: str
    usage: Usage
    finish_reason: str | None = None
    reasoning: str | None = None
    think: str | None = None
    # "reasoning" only when the provider is configured to accept the reasoning field as the answer.
    answer_from: Literal["content", "reasoning"] = "content"


def recitation(data: Any) -> str | None:
    """The provider's own word when the first choice was stopped by Gemini's recitation check (in `finish_reason` or
    OpenRouter's `native_finish_reason`), else None: the one withholding worth asking again (_RECITED)."""
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    for key in ("native_finish_reason", "finish_reason"):
        word = choices[0].get(key)
        if word is not None and str(word).strip().lower() in _RECITED:
            return str(word)
    return None


def parse_usage(data: Any) -> Usage:
    """A reply's usage. It is reported only when it can be priced honestly: the provider's own cost, or both the
    prompt and completion token counts. `usage: {}`, or only total_tokens (input and output are priced apart), is
    unreported: its cost unknown, counted at the worst case, never $0."""
    usage = data.get("usage") if isinstance(data, dict) else None
    if not isinstance(usage, dict):
        return _UNREPORTED
    cost = _number(usage.get("cost"))
    prompt, completion = _number(usage.get("prompt_tokens")), _number(usage.get("completion_tokens"))
    if prompt is not None and completion is not None:
        completion = _with_thoughts(usage, prompt, completion)
    return Usage(
        prompt_tokens=int(prompt or 0),
        completion_tokens=int(completion or 0),
        cost_usd=cost,
        reported=cost is not None or (prompt is not None and completion is not None),
    )


def _with_thoughts(usage: dict[str, Any], prompt: float, completion: float) -> float:
    """The completion's tokens with the thinking a usage left out of them. OpenAI counts reasoning inside
    completion_tokens (its `completion_tokens_details.reasoning_tokens` a part of them, the total their sum with the
    prompt's); Gemini counts thoughts apart (thoughtsTokenCount), bills them as output and counts them toward its max
    output tokens, and a usage carried over from it may keep them out of completion_tokens ("prompt=20,
    completion=424, total=1016": Clarifai/clarifai-python#978; completion_tokens 0 beside reasoning_tokens 60:
    router-for-me/CLIProxyAPI#5733). Left out when the total holds them beside the two counts, or when they are more
    than the completion that would hold them."""
    details = usage.get("completion_tokens_details")
    reasoning = _number(details.get("reasoning_tokens")) if isinstance(details, dict) else None
    if reasoning is None:  # Gemini's own names, where a route passes its usageMetadata's counts on
        reasoning = _number(usage.get("thoughts_token_count", usage.get("thoughtsTokenCount")))
    total = _number(usage.get("total_tokens"))
    if total is not None and total > prompt + completion:
        return total - prompt  # all the total's tokens past the prompt were generated, thoughts among them
    if total is None and reasoning is not None and reasoning > completion:
        return completion + reasoning
    return completion


def split_think(text: str) -> tuple[str, str | None]:
    """(answer, think block) for a text that may start with a think block, closed or not."""
    match = _THINK.match(text)
    if match:
        return text[match.end() :], match.group(2).strip()
    match = _UNCLOSED.match(text)
    if match:  # all thinking, never closed: nothing after it is an answer
        return "", match.group(2).strip()
    if "<think" not in text.lower():
        match = _CLOSE_ONLY.match(text)
        if match:
            return text[match.end() :], match.group(1).strip()
    return text, None


def normalise_reply(data: Any, *, provider: str, model: str, reasoning_as_answer: bool = False) -> NormalReply:
    """The answer in a parsed chat-completions body, or the typed reason there is none."""
    usage = parse_usage(data)
    who = f"{provider} ({model})"
    error = body_error(data)
    if error is not None:
        raise LLMUpstreamError(f"{who} answered HTTP 200 with an error: {error_detail(error)}", **_spent(usage))
    choices = data.get("choices") if isinstance(data, dict) else None
    blocked = _prompt_blocked(data)
    if blocked and not choices:
        raise LLMContentFiltered(f"{who} blocked the prompt before answering ({blocked})", **_spent(usage))
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        shown = json.dumps(data, default=str)[:200]
        # An empty list and nothing generated: Google's shape for a prompt Gemini blocked (LLMNoChoice).
        kind = LLMNoChoice if choices == [] and not usage.completion_tokens else LLMUpstreamError
        raise kind(f"{who} answered with no choice to read: {shown}", **_spent(usage))
    choice = choices[0]
    message = choice.get("message") if isinstance(choice.get("message"), dict) else {}
    finish = choice.get("finish_reason")
    finish = str(finish) if finish is not None else None
    native = choice.get("native_finish_reason")
    content, part_reasoning = _content(message.get("content"))
    reasoning = _reasoning(message) or part_reasoning
    text, think = split_think(content)
    text = text.strip()
    partial = {"content": text, "reasoning": reasoning, "finish_reason": finish, **_spent(usage)}
    why = f"finish_reason {finish}" + (f", native {native}" if native and native != finish else "")
    # Some routes normalise a native MAX_TOKENS or refusal to "stop"; the native reason is the truth then.
    stops = {str(reason).strip().lower() for reason in (finish, native) if reason is not None}
    got = f"; {len(text)} characters of partial text discarded" if text else ""

    if choice.get("error") or stops & _BROKEN:
        error = choice.get("error") or choice_error(data)
        detail = error_detail(error) if error else "no error detail given"
        raise LLMUpstreamError(f"{who} failed mid-answer ({why}): {detail}{got}", **partial)
    refusal = message.get("refusal")
    refused = refusal.strip()[:RAW_LIMIT] if isinstance(refusal, str) and refusal.strip() else None
    if stops & _WITHHELD:
        said = f": {refused}" if refused else ""
        raise LLMContentFiltered(
            f"{who} withheld the answer ({why}): the provider's content filter or the model's refusal{said}{got}",
            **partial,
        )
    if stops & _CONTEXT_FULL:
        raise LLMContextExceeded(
            f"{who} filled its context window ({why}; {usage.prompt_tokens} prompt and {usage.completion_tokens} "
            f"completion tokens, {len(text)} characters of answer): the prompt leaves the answer no room; not asked "
            "again with a larger max_tokens, which cannot fit either: shorten the prompt (models.yaml "
            "memory.token_budget, a prompt override) or use a model with a larger context window",
            **partial,
        )
    if stops & _TRUNCATION:
        spent = (
            f"every token went to reasoning ({len(reasoning)} characters of it, no answer): raise max_tokens or lower "
            "the model's reasoning effort"
            if reasoning and not text
            else "the answer is incomplete"
        )
        raise LLMTruncated(
            f"{who} was cut off at max_tokens ({why}, {usage.completion_tokens} completion tokens, "
            f"{len(text)} characters of answer): {spent}",
            **partial,
        )
    if refused:
        # A refusal means the model declined, even with content beside it (OpenAI may send both; its SDK parses a
        # structured answer only when no refusal is set): the content is not its answer, but kept in the call's event.
        raise LLMContentFiltered(f"{who} refused to answer: {refused}{got}", **partial)
    if text:
        return NormalReply(text=text, usage=usage, finish_reason=finish, reasoning=reasoning, think=think)
    if reasoning and reasoning_as_answer:
        answer, extra = split_think(reasoning)
        if answer.strip():
            return NormalReply(
                text=answer.strip(),
                usage=usage,
                finish_reason=finish,
                reasoning=reasoning,
                think=think or extra,
                answer_from="reasoning",
            )
    if reasoning:
        hint = (
            "; the text is only in the reasoning field (set reasoning_as_answer: true for provider "
            f"{provider} in models.yaml to accept it as the answer, or raise max_tokens)"
        )
    elif think:
        hint = "; there was only a think block"
    elif message.get("tool_calls") or finish in ("tool_calls", "function_call"):
        hint = "; the model called a tool instead of answering"
    else:
        hint = ""
    raise LLMEmptyAnswer(f"{who} gave an empty answer ({why}){hint}", **partial)


def nothing_generated(empty: LLMEmptyAnswer) -> bool:
    """Whether an empty answer generated nothing at all: no text, reasoning or tool call, and its usage reported with
    no completion token. What OpenRouter sends while a model warms up or its provider scales (asked again:
    llm/usable_reply.py); one that spent tokens on nothing usable is the model's own answer; one with no usage tells
    nothing."""
    called = empty.finish_reason in ("tool_calls", "function_call")
    return not (empty.content or empty.reasoning or called) and empty.usage_reported and empty.completion_tokens == 0


def stop_failure(data: Any, *, provider: str, model: str) -> LLMBadReply | None:
    """For a reply whose answer is not its text (tool calls): the typed failure its body or stop says (an error, cut
    off, withheld or refused, stopped upstream), or None when it ended as a whole answer ends. Text or none of it is
    the caller's to read."""
    try:
        normalise_reply(data, provider=provider, model=model)
    except LLMEmptyAnswer:  # no text beside the calls: what a tool-calling turn is
        return None
    except LLMBadReply as exc:
        return exc
    return None


def _prompt_blocked(data: Any) -> str | None:
    """Gemini's `promptFeedback.blockReason` (and its message), relayed by a route that passes it through: the prompt
    was blocked before any answer began, so the body holds no choice."""
    feedback = (data.get("promptFeedback") or data.get("prompt_feedback")) if isinstance(data, dict) else None
    if not isinstance(feedback, dict):
        return None
    reason = feedback.get("blockReason") or feedback.get("block_reason")
    if not reason:
        return None
    message = feedback.get("blockReasonMessage") or feedback.get("block_reason_message")
    return f"blockReason {reason}" + (f": {str(message)[:RAW_LIMIT]}" if message else "")


def _content(content: Any) -> tuple[str, str | None]:
    """Text of `message.content`, whatever its shape, and any reasoning parts it carried."""
    if content is None:
        return "", None
    if isinstance(content, str):
        return content, None
    if isinstance(content, list):
        texts: list[str] = []
        reasoning: list[str] = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict):
                kind = part.get("type", "text")
                value = part.get("text")
                if isinstance(value, dict):  # {"text": {"value": ...}} in some SDK-shaped servers
                    value = value.get("value")
                if not isinstance(value, str):
                    value = part.get("thinking") if isinstance(part.get("thinking"), str) else None
                if value is None:
                    continue
                (reasoning if kind in _REASONING_PART_TYPES else texts).append(value)
            # image or audio parts carry no text we could use
        return "".join(texts), ("".join(reasoning) or None)
    return str(content), None


def _reasoning(message: dict[str, Any]) -> str | None:
    for key in ("reasoning", "reasoning_content"):
        value = message.get(key)
        if isinstance(value, str) and value.strip():
            return value
    details = message.get("reasoning_details")
    if isinstance(details, list):
        text = "".join(d.get("text", "") for d in details if isinstance(d, dict) and isinstance(d.get("text"), str))
        return text or None
    return None


def _number(value: Any) -> float | None:
    """A usage figure, or None (unreported) for anything that is not a count or a cost: NaN, infinite or negative
    would price a call at nonsense or below $0."""
    try:
        number = float(value) if value is not None and not isinstance(value, bool) else None
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number is not None and math.isfinite(number) and number >= 0 else None


def _spent(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost_usd": usage.cost_usd,
        "usage_reported": usage.reported,
    }
