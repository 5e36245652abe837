"""`ask`'s tool turns (llm/tool_chat.py) asked again where the committee's client asks again: on the 400s that name the
max_tokens that fits (llm/reasked.py), and once on an answer Gemini's recitation check withheld. Each answer in the
provider's own words, mocked at the transport with respx."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import respx

from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.records import CallSite
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.reply_errors import LLMContentFiltered, LLMContextExceeded
from tests.fakes.sinks import ListSink

BASE = "http://provider.test/v1"
ANSWER = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Fine."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
}
ASK = [{"role": "user", "content": "why did acct_1 lose?"}]


def _chat(sink: ListSink, max_tokens: int) -> ToolChat:
    return ToolChat(
        provider="openrouter",
        base_url=BASE,
        api_key="sk-test",
        model="m/ask",
        max_tokens=max_tokens,
        events=sink,
        price=None,
        timeout_seconds=5,
    )


def _refused(said: str) -> httpx.Response:
    return httpx.Response(400, json={"error": {"message": said, "type": "invalid_request_error", "code": 400}})


def _turns(chat: ToolChat, turns: int) -> list[str | None]:
    async def run() -> list[str | None]:
        return [(await chat.turn(ASK, [], CallSite(role="ask", run_id="r"))).content for _ in range(turns)]

    return asyncio.run(run())


def _completed(sink: ListSink) -> list[LLMCallCompleted]:
    kind = LLMCallCompleted.event_type()
    return [LLMCallCompleted.model_validate(e.payload) for e in sink.events if e.type == kind]


@pytest.mark.parametrize(
    "said",
    [
        "max_tokens is too large: 32768. This model supports at most 16384 completion tokens, whereas you provided "
        "32768.",
        "max_tokens: 32768 > 16384, which is the maximum allowed number of output tokens for claude-x",
    ],
    ids=["openai", "anthropic"],
)
def test_a_turn_above_the_models_most_is_asked_again_at_it_and_the_next_turns_at_once(said: str) -> None:
    """An `ask` configured above what its model writes failed its first turn as a rejected request, every time."""
    sink = ListSink()
    chat = _chat(sink, 32768)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(
            side_effect=[_refused(said), httpx.Response(200, json=ANSWER), httpx.Response(200, json=ANSWER)]
        )
        answers = _turns(chat, 2)
    assert answers == ["Fine.", "Fine."]
    assert [json.loads(c.request.content)["max_tokens"] for c in route.calls] == [32768, 16384, 16384]
    first, second = _completed(sink)
    assert first.note is not None and "16384" in first.note and second.note is None
    assert first.max_tokens == second.max_tokens == 16384


def test_a_turn_past_the_room_its_conversation_leaves_is_asked_once_within_it() -> None:
    """A conversation grown with its tools' results leaves less room in the window each turn: OpenRouter refuses the
    configured max_tokens with a 400 naming the window and the input. Asked within the room, once; a later turn is
    asked at the configured max_tokens again (its own prompt leaves its own room)."""
    said = (
        "This endpoint's maximum context length is 131072 tokens. However, you requested about 135010 tokens "
        "(119010 of text input, 16000 in the output). Please reduce the length of either one."
    )
    room = 131072 - 119010 - 2380
    sink = ListSink()
    chat = _chat(sink, 16000)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(
            side_effect=[_refused(said), httpx.Response(200, json=ANSWER), httpx.Response(200, json=ANSWER)]
        )
        answers = _turns(chat, 2)
    assert answers == ["Fine.", "Fine."]
    assert [json.loads(c.request.content)["max_tokens"] for c in route.calls] == [16000, room, 16000]
    first, second = _completed(sink)
    assert first.max_tokens == room and first.note is not None and str(room) in first.note
    assert second.max_tokens == 16000 and second.note is None


def test_a_turn_refused_again_within_the_room_is_context_exceeded_after_one_more_ask() -> None:
    said = (
        "This endpoint's maximum context length is 131072 tokens. However, you requested about 135010 tokens "
        "(119010 of text input, 16000 in the output)."
    )
    sink = ListSink()
    chat = _chat(sink, 16000)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(return_value=_refused(said))
        with pytest.raises(LLMContextExceeded, match="131072 tokens"):
            _turns(chat, 1)
    assert route.call_count == 2


def _recited(finish: str, native: str | None) -> httpx.Response:
    choice = {"index": 0, "message": {"role": "assistant", "content": "The fund"}, "finish_reason": finish}
    if native is not None:
        choice["native_finish_reason"] = native
    return httpx.Response(200, json={"choices": [choice], "usage": {"prompt_tokens": 3, "completion_tokens": 2}})


@pytest.mark.parametrize(("finish", "native"), [("RECITATION", None), ("stop", "RECITATION")])
def test_a_turn_gemini_withheld_for_recitation_is_asked_once_more(finish: str, native: str | None) -> None:
    """Gemini's recitation check often passes the same request the next time: the committee's client asks once more,
    `ask` failed the turn (and the question) at once."""
    sink = ListSink()
    chat = _chat(sink, 500)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(
            side_effect=[_recited(finish, native), httpx.Response(200, json=ANSWER)]
        )
        assert _turns(chat, 1) == ["Fine."]
    assert route.call_count == 2
    failed = [LLMCallFailed.model_validate(e.payload) for e in sink.events if e.type == LLMCallFailed.event_type()]
    assert len(failed) == 1 and failed[0].billed and "RECITATION" in failed[0].error
    [done] = _completed(sink)
    assert done.note is not None and "asked once more after finish reason RECITATION" in done.note


def test_a_turn_withheld_for_recitation_twice_fails_saying_both() -> None:
    sink = ListSink()
    chat = _chat(sink, 500)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(return_value=_recited("RECITATION", None))
        with pytest.raises(LLMContentFiltered, match="withheld again"):
            _turns(chat, 1)
    assert route.call_count == 2 and not _completed(sink)


# vLLM's newer wording, as users quote it from their servers: both parameter names, then the window and the input.
# It is about the window; read as "takes max_completion_tokens instead", it switched parameter.
VLLM_TOO_LARGE = (
    "'max_tokens' or 'max_completion_tokens' is too large: {sent}. This model's maximum context length is 4096 tokens "
    "and your request has {used} input tokens ({sent} > 4096 - {used}). None"
)


def test_vllms_too_large_is_asked_within_the_room_with_the_same_parameter() -> None:
    sink = ListSink()
    chat = _chat(sink, 8000)
    refused = httpx.Response(
        400,
        json={
            "object": "error",
            "message": VLLM_TOO_LARGE.format(sent=8000, used=2778),
            "type": "BadRequestError",
            "param": None,
            "code": 400,
        },
    )
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(side_effect=[refused, httpx.Response(200, json=ANSWER)])
        assert _turns(chat, 1) == ["Fine."]
    bodies = [json.loads(c.request.content) for c in route.calls]
    assert [b.get("max_tokens") for b in bodies] == [8000, 4096 - 2778 - 55]
    assert all("max_completion_tokens" not in b for b in bodies)


def test_vllms_too_large_with_no_room_is_context_exceeded_at_once_and_the_parameter_kept() -> None:
    """A prompt that leaves no room: context-exceeded after one request. It was asked again as max_completion_tokens,
    and the committee's client then sent that parameter to the model for the rest of the command."""
    error = {"message": VLLM_TOO_LARGE.format(sent=8000, used=4000), "type": "BadRequestError", "param": None}
    client = OpenAICompatibleClient("vllm", BASE, None, sleep=_no_sleep)
    request = ChatRequest(model="m/one", messages=(ChatMessage(role="user", content="hi"),), max_tokens=8000)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(
            side_effect=[httpx.Response(400, json={"error": error | {"code": 400}}), httpx.Response(200, json=ANSWER)]
        )
        with pytest.raises(LLMContextExceeded, match="4096 tokens"):
            asyncio.run(client.send(request))
        asyncio.run(client.send(request.model_copy(update={"max_tokens": 50})))
    bodies = [json.loads(c.request.content) for c in route.calls]
    assert len(bodies) == 2 and [b.get("max_tokens") for b in bodies] == [8000, 50]


async def _no_sleep(seconds: float) -> None:
    return None
