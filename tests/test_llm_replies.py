"""The reply normaliser over every shape of the chat-completions and OpenRouter formats."""

from __future__ import annotations

from typing import Any

import pytest

from llmtrade.errors import TemporaryError
from llmtrade.llm.body_errors import error_detail
from llmtrade.llm.replies import normalise_reply, parse_usage, split_think
from llmtrade.reply_errors import (
    LLMBadReply,
    LLMContentFiltered,
    LLMContextExceeded,
    LLMEmptyAnswer,
    LLMTruncated,
    LLMUpstreamError,
)


def _body(message: dict[str, Any], finish: str | None = "stop", **choice: Any) -> dict[str, Any]:
    return {
        "id": "x",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish, **choice}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 20, "cost": "0.001"},
    }


def _norm(data: Any, **kw: Any) -> Any:
    return normalise_reply(data, provider="openrouter", model="m/x", **kw)


def test_a_plain_answer_is_kept_with_usage_and_cost() -> None:
    reply = _norm(_body({"content": "  Hello.  "}))
    assert (reply.text, reply.finish_reason, reply.answer_from) == ("Hello.", "stop", "content")
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.cost_usd) == (10, 20, 0.001)


@pytest.mark.parametrize(
    "parts",
    [
        [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo."}],
        [{"type": "output_text", "text": "Hel"}, "lo."],
        [{"type": "text", "text": {"value": "Hel"}}, {"type": "image_url", "image_url": {}}, {"text": "lo."}],
    ],
)
def test_content_as_a_list_of_parts_is_joined(parts: list[Any]) -> None:
    assert _norm(_body({"content": parts})).text == "Hello."


def test_reasoning_parts_go_to_reasoning_not_the_answer() -> None:
    parts = [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "Yes."}]
    reply = _norm(_body({"content": parts}))
    assert (reply.text, reply.reasoning) == ("Yes.", "hmm")


@pytest.mark.parametrize(
    ("content", "answer", "think"),
    [
        ('<think>\nweigh it\n</think>\n\n{"a": 1}', '{"a": 1}', "weigh it"),
        ("  <THINKING>x</THINKING>Answer", "Answer", "x"),
        ("weigh it</think>\nAnswer", "Answer", "weigh it"),  # the template opened the block in the prompt
        ("No thinking here.", "No thinking here.", None),
    ],
)
def test_think_blocks_are_stripped_and_kept(content: str, answer: str, think: str | None) -> None:
    reply = _norm(_body({"content": content}))
    assert (reply.text, reply.think) == (answer, think)


def test_a_think_block_that_never_closes_is_an_empty_answer_not_the_answer() -> None:
    assert split_think("<think>still going") == ("", "still going")
    with pytest.raises(LLMEmptyAnswer, match="only a think block"):
        _norm(_body({"content": "<think>still going"}))


@pytest.mark.parametrize("key", ["reasoning", "reasoning_content"])
def test_null_content_with_reasoning_fails_unless_configured(key: str) -> None:
    data = _body({"content": None, key: "The answer is 42."})
    with pytest.raises(LLMEmptyAnswer) as caught:
        _norm(data)
    assert "reasoning_as_answer: true for provider openrouter" in str(caught.value)
    assert caught.value.reasoning == "The answer is 42."
    reply = _norm(data, reasoning_as_answer=True)
    assert (reply.text, reply.answer_from, reply.reasoning) == ("The answer is 42.", "reasoning", "The answer is 42.")


@pytest.mark.parametrize("content", [None, "", "   \n"])
def test_null_or_blank_content_is_an_empty_answer(content: Any) -> None:
    with pytest.raises(LLMEmptyAnswer, match=r"openrouter \(m/x\) gave an empty answer \(finish_reason stop\)"):
        _norm(_body({"content": content}))


def test_a_missing_message_or_odd_content_type_never_raises_anything_untyped() -> None:
    with pytest.raises(LLMEmptyAnswer):
        _norm({"choices": [{"finish_reason": "stop"}]})
    assert _norm(_body({"content": 42})).text == "42"


def test_finish_reason_length_is_a_truncation_carrying_the_partial_text() -> None:
    with pytest.raises(LLMTruncated) as caught:
        _norm(_body({"content": '{"thesis": "rates are'}, "length", native_finish_reason="MAX_TOKENS"))
    assert "cut off at max_tokens" in str(caught.value) and "native MAX_TOKENS" in str(caught.value)
    assert caught.value.content == '{"thesis": "rates are' and caught.value.completion_tokens == 20


def test_a_native_max_tokens_reported_as_stop_is_still_a_truncation() -> None:
    with pytest.raises(LLMTruncated, match="native MAX_TOKENS"):
        _norm(_body({"content": "half an ans"}, "stop", native_finish_reason="MAX_TOKENS"))


def test_finish_reason_error_with_partial_text_carries_the_upstream_reason() -> None:
    error = {"code": 502, "message": "Upstream error", "metadata": {"provider_name": "Chutes", "raw": "reset"}}
    with pytest.raises(LLMUpstreamError) as caught:
        _norm(_body({"content": "The outlook is"}, "error", error=error))
    text = str(caught.value)
    assert "failed mid-answer" in text and "Upstream error (code 502)" in text
    assert "upstream provider Chutes" in text and "says: reset" in text
    assert caught.value.content == "The outlook is" and isinstance(caught.value, TemporaryError)


def test_finish_reason_error_without_an_error_object_still_fails() -> None:
    with pytest.raises(LLMUpstreamError, match="no error detail"):
        _norm(_body({"content": "partial"}, "error"))


@pytest.mark.parametrize(
    ("finish", "native", "error"),
    [
        ("SAFETY", None, LLMContentFiltered),
        ("safety", None, LLMContentFiltered),
        ("BLOCKLIST", None, LLMContentFiltered),
        ("SPII", None, LLMContentFiltered),
        ("refusal", None, LLMContentFiltered),
        ("stop", "RECITATION", LLMContentFiltered),
        ("stop", "refusal", LLMContentFiltered),
        ("MAX_TOKENS", None, LLMTruncated),
        ("max_tokens", "max_tokens", LLMTruncated),
        ("stop", "model_context_window_exceeded", LLMContextExceeded),
        # Mistral's own: generation stopped at the model's context window (prompt and answer filled it).
        ("model_length", None, LLMContextExceeded),
        ("stop", "model_length", LLMContextExceeded),
        ("OTHER", None, LLMUpstreamError),
        ("MALFORMED_FUNCTION_CALL", None, LLMUpstreamError),
        ("stop", "pause_turn", LLMUpstreamError),
        # The rest of Gemini's FinishReason (ai.google.dev/api/generate-content#FinishReason), as OpenRouter relays it
        # beside a "stop": none of them ends a whole answer.
        ("stop", "MODEL_ARMOR", LLMContentFiltered),
        ("stop", "FINISH_REASON_UNSPECIFIED", LLMUpstreamError),
        ("stop", "MALFORMED_RESPONSE", LLMUpstreamError),
        ("stop", "TOO_MANY_TOOL_CALLS", LLMUpstreamError),
        ("stop", "MISSING_THOUGHT_SIGNATURE", LLMUpstreamError),
        ("stop", "IMAGE_OTHER", LLMUpstreamError),
        ("stop", "NO_IMAGE", LLMUpstreamError),
        # DeepSeek's: generation interrupted for want of inference resources.
        ("insufficient_system_resource", None, LLMUpstreamError),
    ],
)
def test_a_text_ended_by_a_stop_reason_that_is_no_natural_stop_is_never_an_answer(
    finish: str, native: str | None, error: type[Exception]
) -> None:
    extra = {} if native is None else {"native_finish_reason": native}
    with pytest.raises(error) as caught:
        _norm(_body({"content": '{"thesis": "rates are'}, finish, **extra))
    assert (native or finish) in str(caught.value) and caught.value.content == '{"thesis": "rates are'


@pytest.mark.parametrize(("finish", "native"), [("stop", "STOP"), ("stop", "end_turn"), ("STOP", None), (None, None)])
def test_a_natural_stop_in_any_providers_words_is_an_answer(finish: str | None, native: str | None) -> None:
    extra = {} if native is None else {"native_finish_reason": native}
    assert _norm(_body({"content": "fine"}, finish, **extra)).text == "fine"


def test_a_refusal_beside_a_filter_reason_keeps_the_models_words() -> None:
    with pytest.raises(LLMContentFiltered, match=r"withheld.*refusal.*: I won't advise on that"):
        _norm(_body({"content": None, "refusal": "I won't advise on that."}, "stop", native_finish_reason="refusal"))


def test_a_blocked_prompt_with_no_choice_is_a_filter_not_an_upstream_failure() -> None:
    data = {"promptFeedback": {"blockReason": "SAFETY", "blockReasonMessage": "unsafe"}, "choices": []}
    with pytest.raises(LLMContentFiltered, match="blocked the prompt before answering \\(blockReason SAFETY: unsafe"):
        _norm(data)


def test_content_filter_and_refusal_are_typed() -> None:
    with pytest.raises(LLMContentFiltered, match="content filter"):
        _norm(_body({"content": None}, "content_filter"))
    with pytest.raises(LLMContentFiltered, match="refused to answer: I can't help"):
        _norm(_body({"content": None, "refusal": "I can't help with that."}))


def test_a_tool_call_instead_of_an_answer_is_empty_and_says_so() -> None:
    calls = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    with pytest.raises(LLMEmptyAnswer, match="called a tool"):
        _norm(_body({"content": None, "tool_calls": calls}, "tool_calls"))


@pytest.mark.parametrize(
    "data",
    [
        {"error": {"code": 429, "message": "Rate limit exceeded", "metadata": {"provider_name": "Groq"}}},
        {"error": "overloaded"},
        {"choices": []},
        {"object": "chat.completion"},
        [],
        "text",
        None,
    ],
)
def test_a_200_body_with_no_usable_choice_is_an_upstream_error(data: Any) -> None:
    with pytest.raises(LLMUpstreamError) as caught:
        _norm(data)
    assert isinstance(caught.value, LLMBadReply)


def test_error_detail_shows_openrouter_metadata_raw_and_provider() -> None:
    raw = '{"error": {"message": "Invalid schema: \'minItems\' is not permitted"}}'
    detail = error_detail(
        {"code": 400, "message": "Provider returned error", "metadata": {"provider_name": "Azure", "raw": raw}}
    )
    assert detail == (
        "Provider returned error (code 400); upstream provider Azure; says: Invalid schema: 'minItems' is not permitted"
    )
    assert "flagged: ['violence']" in error_detail({"message": "flagged", "metadata": {"reasons": ["violence"]}})


def test_a_truncation_spent_on_reasoning_alone_says_so() -> None:
    """Seen in a trial: every token went to `reasoning` and the message said only "0 characters of answer"."""
    with pytest.raises(LLMTruncated) as caught:
        _norm(_body({"content": None, "reasoning": "Let me weigh the yield curve first, then"}, "length"))
    assert "every token went to reasoning" in str(caught.value) and "raise max_tokens" in str(caught.value)


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": float("nan"), "completion_tokens": 5},
        {"prompt_tokens": 5, "completion_tokens": float("inf")},
        {"prompt_tokens": -5, "completion_tokens": 5},
        {"prompt_tokens": "1e999", "completion_tokens": 5},
    ],
)
def test_a_usage_figure_that_is_no_count_is_unreported(usage: dict[str, Any]) -> None:
    """Review G2: NaN, infinite or negative token counts or costs were taken as figures (a NaN cost, or a call priced
    below $0). They are unreported: the cost unknown, counted at the worst case."""
    assert not parse_usage({"usage": usage}).reported
    assert parse_usage({"usage": {"cost": -0.5}}).cost_usd is None
    assert parse_usage({"usage": {"cost": float("nan")}}).cost_usd is None
