"""`llmtrade ask`'s turn (llm/tool_chat.py) reads a 200 as the gateway does (llm/replies.py): an answer cut off at
max_tokens, withheld by a filter, refused, empty, or stopped upstream (in `finish_reason` or OpenRouter's
`native_finish_reason`, in the upstream's own words) is a failed turn with the provider's reason, never the answer
`ask` prints; an error inside a 200 is judged by its code (5xx temporary, 4xx final) and keeps its reason. It printed a
cut-off answer with exit 0, and called an upstream 502 relayed in a 200 a rejected request with no message (exit 1)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import SystemClock
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.errors import LLMAuthRejected, LLMUnavailable, TemporaryError
from llmtrade.llm.records import CallSite
from llmtrade.llm.tool_chat import ToolChat, Turn
from llmtrade.reply_errors import LLMContentFiltered, LLMEmptyAnswer, LLMTruncated, LLMUpstreamError
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from tests.fakes import llm_faults as f
from tests.fakes.openai_server import FakeOpenAIServer

BASE = "https://llm.test/v1"
SITE = CallSite(role="ask", run_id="run-ask")
MESSAGES = [{"role": "user", "content": "Why did acct_3 exit on Thursday?"}]
PARTIAL = "acct_3 exited SPY because its invalidation"


def _chat(storage: Storage) -> ToolChat:
    return ToolChat(
        provider="openrouter",
        base_url=BASE,
        api_key="sk-test",
        model="m/ask",
        max_tokens=64,  # above the replies' 50 completion tokens: exactly max_tokens is a cut, whatever the stop said
        events=storage.events,
        price=None,
        timeout_seconds=5,
    )


def _reply(message: dict[str, Any], finish: str | None = "stop", **choice: Any) -> dict[str, Any]:
    return {
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish, **choice}],
        "usage": {"prompt_tokens": 30, "completion_tokens": 50},
    }


def _turn(storage: Storage, body: dict[str, Any], tools: list[dict[str, Any]] | None = None) -> Turn:
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=body))
        return asyncio.run(_chat(storage).turn(MESSAGES, tools or [], SITE))


def _failed(storage: Storage) -> list[LLMCallFailed]:
    return [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]


@pytest.mark.parametrize(
    ("body", "error", "said"),
    [
        (_reply({"content": PARTIAL}, "length"), LLMTruncated, "cut off at max_tokens"),
        (_reply({"content": PARTIAL}, "MAX_TOKENS"), LLMTruncated, "MAX_TOKENS"),
        (_reply({"content": PARTIAL}, "content_filter"), LLMContentFiltered, "content filter"),
        (_reply({"content": PARTIAL}, "SAFETY"), LLMContentFiltered, "SAFETY"),
        (_reply({"content": PARTIAL}, "stop", native_finish_reason="refusal"), LLMContentFiltered, "refusal"),
        (_reply({"content": None, "refusal": "I can't discuss that."}), LLMContentFiltered, "I can't discuss that"),
        (
            _reply(
                {"content": PARTIAL},
                "error",
                error={"message": "Upstream error", "metadata": {"provider_name": "Anthropic"}},  # no code: temporary
            ),
            LLMUpstreamError,
            "upstream provider Anthropic",
        ),
        (_reply({"content": ""}), LLMEmptyAnswer, "empty answer"),
        (_reply({"content": "<think>which account?</think>"}), LLMEmptyAnswer, "only a think block"),
    ],
    ids=[
        "length",
        "gemini-max-tokens",
        "filter",
        "gemini-safety",
        "native-refusal",
        "refusal",
        "error",
        "empty",
        "think",
    ],
)
def test_a_final_text_that_is_no_whole_answer_is_a_failed_turn_never_the_answer(
    storage: Storage, body: dict[str, Any], error: type[Exception], said: str
) -> None:
    with pytest.raises(error) as caught:
        _turn(storage, body)
    assert said in str(caught.value)
    assert storage.events.read(type="LLMCallCompleted") == []
    [failed] = _failed(storage)
    assert failed.error_type == error.__name__ and said in failed.error
    assert failed.billed and (failed.prompt_tokens, failed.completion_tokens) == (30, 50)  # a 200: billed
    assert failed.finish_reason == body["choices"][0]["finish_reason"]


def test_a_tool_call_cut_off_at_max_tokens_is_a_truncation_not_calls_to_run(storage: Storage) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "events", "arguments": '{"account_id": "acc'}}
    with pytest.raises(LLMTruncated):
        _turn(storage, _reply({"content": None, "tool_calls": [call]}, "length"))
    assert [e.error_type for e in _failed(storage)] == ["LLMTruncated"]


def test_whole_answers_in_any_shape_are_read_clean(storage: Storage) -> None:
    parts = [{"type": "text", "text": "acct_3 exited "}, {"type": "text", "text": "at its checkpoint."}]
    assert _turn(storage, _reply({"content": parts})).content == "acct_3 exited at its checkpoint."
    thought = "<think>look at the events first</think>acct_3 exited [#1]."
    assert _turn(storage, _reply({"content": thought}, "stop", native_finish_reason="end_turn")).content == (
        "acct_3 exited [#1]."
    )
    call = {"id": "c1", "type": "function", "function": {"name": "events", "arguments": "{}"}}
    offered = [
        {"type": "function", "function": {"name": "events", "parameters": {"type": "object"}}}
    ]  # a call is an answer only to a turn that offered tools
    turn = _turn(storage, _reply({"content": None, "tool_calls": [call]}, "tool_calls"), offered)
    assert turn.content is None and [c.name for c in turn.calls] == ["events"]
    assert len(storage.events.read(type="LLMCallCompleted")) == 3 and _failed(storage) == []


@pytest.mark.parametrize(
    ("error", "kind", "temporary"),
    [
        ({"code": 502, "message": "Provider returned error", "metadata": {"raw": "overloaded"}}, LLMUnavailable, True),
        ({"code": 429, "message": "Provider returned error", "metadata": {"raw": "overloaded"}}, LLMUnavailable, True),
        ({"type": "overloaded_error", "message": "Overloaded"}, LLMUnavailable, True),  # Anthropic's 529, in words
        ({"code": "upstream_hiccup", "message": "Overloaded"}, LLMUpstreamError, True),  # a word naming no status
        ({"code": 401, "message": "User not found", "metadata": {"raw": "overloaded"}}, LLMAuthRejected, False),
    ],
    ids=["502", "429", "word type", "unknown word code", "401"],
)
def test_an_error_inside_a_200_is_judged_by_its_code_and_keeps_its_reason(
    storage: Storage, error: dict[str, Any], kind: type[Exception], temporary: bool
) -> None:
    with pytest.raises(Exception) as caught:
        _turn(storage, {"error": error})
    assert type(caught.value) is kind, caught.value
    assert isinstance(caught.value, TemporaryError) is temporary
    reason = error["metadata"]["raw"] if "metadata" in error else "Overloaded"
    assert reason in str(caught.value) and "no message" not in str(caught.value)
    [failed] = _failed(storage)
    assert failed.error_type == kind.__name__ and reason in failed.error and failed.billed


def test_ask_never_prints_an_answer_cut_off_at_max_tokens(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeOpenAIServer()
    fake.behaviour = f.stopped("length", fraction=0.5)
    with fake:
        monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", fake.base_url)
        result = CliRunner().invoke(app, ["ask", "why did acct_3 exit on Thursday?", "--json"])
    assert result.exit_code == 1, result.output
    assert "cut off at max_tokens" in result.output and "Traceback" not in result.output
    with pytest.raises(json.JSONDecodeError):
        json.loads(result.stdout)  # no answer printed as if it were one
    with open_storage(Settings(DATABASE_URL=cli_env["DATABASE_URL"]), SystemClock()) as storage:
        failed = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
        done = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
        ends = [e.type for e in storage.events.read() if e.type in ("RunFinished", "RunFailed")]
    assert [c.error_type for c in failed] == ["LLMTruncated"] and failed[0].finish_reason == "length"
    assert done == [] and ends == ["RunFailed"]


def test_a_proxys_html_page_in_asks_turn_is_told_by_its_title(storage: Storage) -> None:
    page = "<!DOCTYPE html><html><head><title>openrouter.ai | 502: Bad gateway</title></head><body></body></html>"
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, text=page))
        with pytest.raises(LLMUnavailable, match=r"502: Bad gateway"):
            asyncio.run(_chat(storage).turn(MESSAGES, [], SITE))
    [failed] = _failed(storage)
    assert "502: Bad gateway" in failed.error and "DOCTYPE" not in failed.error


def test_a_final_text_only_in_reasoning_is_the_answer_only_when_the_provider_says_so(storage: Storage) -> None:
    body = _reply({"content": None, "reasoning": "acct_3 exited at its checkpoint [#1]."})
    with pytest.raises(LLMEmptyAnswer, match="reasoning_as_answer"):
        _turn(storage, body)
    chat = _chat(storage)
    chat.reasoning_as_answer = True  # models.yaml's setting for the provider, as app/ask.py passes it
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=body))
        turn = asyncio.run(chat.turn(MESSAGES, [], SITE))
    assert turn.content == "acct_3 exited at its checkpoint [#1]."


def test_asks_turn_to_a_reasoning_model_is_asked_with_max_completion_tokens(storage: Storage) -> None:
    """OpenAI's gpt-5 and o-series refuse max_tokens with a 400 naming max_completion_tokens: ask failed for good."""
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions")
        step = f.reasoning_model_params("acct_3 exited [#1].")

        def answer(request: httpx.Request) -> httpx.Response:
            fault = step(json.loads(request.content))
            return httpx.Response(fault.status, content=fault.payload(), headers=fault.headers)

        route.side_effect = answer
        turn = asyncio.run(_chat(storage).turn(MESSAGES, [], SITE))
    assert turn.content == "acct_3 exited [#1]."
    sent = [json.loads(call.request.content) for call in route.calls]
    assert ["max_tokens" in b for b in sent] == [True, False] and sent[1]["max_completion_tokens"] == 64
