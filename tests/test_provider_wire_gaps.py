"""Provider answers the client misread before (llm/http_errors.py, llm/replies.py), each as the provider sends it:
mocked at the transport with respx, no database."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import respx

from llmtrade.domain.events import LLMCallFailed
from llmtrade.errors import LLMNoEndpoint, LLMRateLimited, LLMRequestRejected
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.records import CallSite
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.reply_errors import LLMContentFiltered, LLMContextExceeded
from tests.fakes.sinks import ListSink

BASE = "http://provider.test/v1"
REQUEST = ChatRequest(model="m/one", messages=(ChatMessage(role="user", content="hi"),))
ANSWER = {
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Fine."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
}


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _openai_429(message: str) -> httpx.Response:
    # OpenAI's (and Groq's) own words: no Retry-After header, the wait as a Go duration in the message.
    error = {"message": message, "type": "tokens", "param": None, "code": "rate_limit_exceeded"}
    return httpx.Response(429, json={"error": error})


@pytest.mark.parametrize(
    ("message", "wait"),
    [
        ("Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000. Please try again in 1m26.4s.", 86.4),
        ("Rate limit reached for mixtral on tokens per minute (TPM). Please try again in 1m1.043333333s.", 61.04),
        ("Rate limit reached for gpt-4o on requests per min (RPM). Please try again in 1m0s.", 60.0),
    ],
)
def test_a_wait_named_as_minutes_and_seconds_is_waited(message: str, wait: float) -> None:
    sleeps = Sleeps()
    client = OpenAICompatibleClient("prov", BASE, "k", sleep=sleeps)
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/chat/completions").mock(side_effect=[_openai_429(message), httpx.Response(200, json=ANSWER)])
        reply = asyncio.run(client.send(REQUEST))
    assert reply.content == "Fine." and reply.attempts == 2
    assert sleeps.calls == [pytest.approx(wait, abs=0.01)]


def test_a_wait_of_minutes_past_what_the_run_may_wait_fails_at_once_naming_it() -> None:
    sleeps = Sleeps()
    client = OpenAICompatibleClient("prov", BASE, "k", sleep=sleeps)
    message = "Rate limit reached for gpt-4o on tokens per min (TPM): Limit 30000. Please try again in 22m27.84s."
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(return_value=_openai_429(message))
        with pytest.raises(LLMRateLimited, match=r"asked to wait 1348 s \(its body\)") as raised:
            asyncio.run(client.send(REQUEST))
    assert route.call_count == 1 and sleeps.calls == [] and raised.value.exit_code == 75
    assert "Please try again in 22m27.84s" in str(raised.value)


def test_an_ask_turn_redirected_names_where_it_points_and_bills_nothing() -> None:
    """A base_url in plain http (or missing a path segment) is answered with a redirect, which is never followed (a
    POST sent on could carry the key to another host). The committee's client said so (LLMNoEndpoint naming the
    Location); `ask`'s turn read the 3xx as a 200, called its empty body "not JSON" (exit 75, billed at its worst
    case) and lost where it pointed."""
    sink = ListSink()
    chat = ToolChat(
        provider="openrouter",
        base_url="http://openrouter.test/api/v1",
        api_key="sk-test",
        model="m/ask",
        max_tokens=50,
        events=sink,
        price=None,
        timeout_seconds=5,
    )
    moved = "https://openrouter.test/api/v1/chat/completions"
    with respx.mock(assert_all_called=True) as mock:
        mock.post("http://openrouter.test/api/v1/chat/completions").mock(
            return_value=httpx.Response(301, headers={"location": moved})
        )
        with pytest.raises(LLMNoEndpoint, match=f"a redirect to {moved}") as raised:
            asyncio.run(chat.turn([{"role": "user", "content": "why?"}], [], CallSite(role="ask", run_id="r")))
    assert raised.value.exit_code == 1
    [failed] = [LLMCallFailed.from_event(e) for e in sink.events if e.type == "LLMCallFailed"]
    assert failed.error_type == "LLMNoEndpoint" and moved in failed.error
    assert not failed.billed and failed.cost_counted_usd is None


@pytest.mark.parametrize(
    "response",
    [
        # Ollama (Gin's router) and vLLM (FastAPI's) for a path they do not serve: a base_url without its /v1.
        httpx.Response(404, text="404 page not found", headers={"content-type": "text/plain"}),
        httpx.Response(404, json={"detail": "Not Found"}),
    ],
    ids=["ollama", "vllm"],
)
def test_a_404_from_a_servers_router_names_the_url_and_the_base_url_to_fix(response: httpx.Response) -> None:
    """A local server asked at a path it does not serve answers its router's bare 404: not a model it lacks. The
    message said to check the model's name and the account's settings."""
    base = "http://localhost:11434"
    client = OpenAICompatibleClient("ollama", base, None, sleep=Sleeps())
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{base}/chat/completions").mock(return_value=response)
        with pytest.raises(LLMNoEndpoint) as raised:
            asyncio.run(client.send(REQUEST))
    said = str(raised.value)
    assert f"nothing is served at {base}/chat/completions" in said and "base_url" in said, said
    assert "model's name" not in said and raised.value.exit_code == 1


def test_a_404_naming_the_model_still_says_to_check_the_models_name() -> None:
    body = {"error": {"message": 'model "llama9" not found, try pulling it first', "type": "api_error"}}
    client = OpenAICompatibleClient("ollama", BASE, None, sleep=Sleeps())
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(404, json=body))
        with pytest.raises(LLMNoEndpoint, match=r'model "llama9" not found.*check the model\'s name'):
            asyncio.run(client.send(REQUEST))


def test_an_ask_turn_flagged_in_moderation_is_recorded_with_the_flagged_reasons() -> None:
    """OpenRouter's moderation refuses a request with a 403 naming what it flagged: a content filter
    (LLMContentFiltered, final). `ask`'s turn recorded a failed call for every refusal but this one, which is no
    LLMRequestRejected: it went out with no LLMCallFailed on file."""
    sink = ListSink()
    chat = ToolChat(
        provider="openrouter",
        base_url=BASE,
        api_key="sk-test",
        model="m/ask",
        max_tokens=50,
        events=sink,
        price=None,
        timeout_seconds=5,
    )
    error = {
        "code": 403,
        "message": "m/ask requires moderation",
        "metadata": {"reasons": ["violence"], "flagged_input": "…"},
    }
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(403, json={"error": error}))
        with pytest.raises(LLMContentFiltered, match="violence"):
            asyncio.run(chat.turn([{"role": "user", "content": "why?"}], [], CallSite(role="ask", run_id="r")))
    [failed] = [LLMCallFailed.from_event(e) for e in sink.events if e.type == "LLMCallFailed"]
    assert failed.error_type == "LLMContentFiltered" and "violence" in failed.error and not failed.billed


def test_a_google_quota_whose_limit_is_0_fails_at_once_instead_of_waiting_out_its_retry_delay() -> None:
    """A model the project's plan gives no quota at all (Gemini's free tier for a Pro model) answers a 429 whose quota
    says "limit: 0", beside a RetryInfo delay of seconds: waiting never mends it, yet each call waited that delay
    between its five attempts (minutes a call) and then exited 75 as a passing rate limit."""
    message = (
        "You exceeded your current quota, please check your plan and billing details.\n* Quota exceeded for metric: "
        "generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 0, model: gemini-2.5-pro\n"
        "Please retry in 25.5s."
    )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "25s"},
    ]
    error = {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED", "details": details}
    sleeps = Sleeps()
    client = OpenAICompatibleClient("google", BASE, "k", sleep=sleeps)
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(429, json=[{"error": error}]))
        with pytest.raises(LLMRateLimited, match="no quota for m/one") as raised:
            asyncio.run(client.send(REQUEST))
    assert route.call_count == 1 and sleeps.calls == [] and raised.value.exit_code == 75
    assert "limit: 0, model: gemini-2.5-pro" in str(raised.value)


def test_tool_call_arguments_sent_as_an_object_are_read_as_their_json_and_sent_back_as_a_string() -> None:
    """llama.cpp's llama-server (with --tool-args-object, and by default for a while) and TGI send a tool call's
    `function.arguments` as a JSON object, not the JSON string OpenAI's format has. The turn took `str()` of it, a
    Python repr ("{'week_id': ...}") that `ask`'s tools refused as "not JSON", so the model was told its well-formed
    call was malformed; and the assistant message sent back kept the object, which strict servers refuse with a 400."""
    call = {"id": "c1", "type": "function", "function": {"name": "events", "arguments": {"week_id": "2026-01-07"}}}
    body = {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2},
    }
    chat = ToolChat(
        provider="llamacpp",
        base_url=BASE,
        api_key=None,
        model="m/ask",
        max_tokens=50,
        events=ListSink(),
        price=None,
        timeout_seconds=5,
    )
    with respx.mock(assert_all_called=True) as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(200, json=body))
        offered = [
            {"type": "function", "function": {"name": "events", "parameters": {"type": "object"}}}
        ]  # a call is an answer only to a turn that offered tools
        turn = asyncio.run(chat.turn([{"role": "user", "content": "why?"}], offered, CallSite(role="ask", run_id="r")))
    [read] = turn.calls
    assert json.loads(read.arguments) == {"week_id": "2026-01-07"}
    sent_back = turn.message["tool_calls"][0]["function"]["arguments"]
    assert isinstance(sent_back, str) and json.loads(sent_back) == {"week_id": "2026-01-07"}


@pytest.mark.parametrize(
    "said",
    [
        "max_tokens is too large: 32768. This model supports at most 16384 completion tokens, whereas you provided "
        "32768.",
        "max_tokens: 32768 > 16384, which is the maximum allowed number of output tokens for claude-x",
        "Invalid max_tokens value, the valid range of max_tokens is [1, 16384]",
    ],
    ids=["openai", "anthropic", "deepseek"],
)
def test_max_tokens_above_the_models_most_is_asked_again_at_that_most(said: str) -> None:
    """A truncated answer's repair asks with twice the max_tokens (up to 32768): a model whose output is capped lower
    refuses it with a 400 naming its most, and the repair, the role with it, failed as a rejected request."""
    refused = httpx.Response(400, json={"error": {"message": said, "type": "invalid_request_error"}})
    client = OpenAICompatibleClient("prov", BASE, "k", sleep=Sleeps())
    request = REQUEST.model_copy(update={"max_tokens": 32768})
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(
            side_effect=[refused, httpx.Response(200, json=ANSWER), httpx.Response(200, json=ANSWER)]
        )
        first = asyncio.run(client.send(request))
        again = asyncio.run(client.send(request))
    sent = [json.loads(call.request.content)["max_tokens"] for call in route.calls]
    assert sent == [32768, 16384, 16384]  # remembered for the model: the next call is asked so at once
    assert first.content == again.content == "Fine." and first.attempts == 2
    assert first.reasked is not None and "16384" in first.reasked and again.reasked is None


def test_a_max_tokens_refusal_naming_no_lower_most_is_final() -> None:
    said = (
        "max_tokens is too large: 4000. This model supports at most 8192 completion tokens, whereas you provided 4000."
    )
    refused = httpx.Response(400, json={"error": {"message": said, "type": "invalid_request_error"}})
    client = OpenAICompatibleClient("prov", BASE, "k", sleep=Sleeps())
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(return_value=refused)
        with pytest.raises(LLMRequestRejected, match="at most 8192"):
            asyncio.run(client.send(REQUEST))
    assert route.call_count == 1


@pytest.mark.parametrize(
    "error",
    [
        {
            "message": "This model's maximum context length is 128000 tokens. However, your messages resulted in "
            "130512 tokens. Please reduce the length of the messages.",
            "type": "invalid_request_error",
            "param": "messages",
            "code": "context_length_exceeded",
        },
        {"type": "invalid_request_error", "message": "prompt is too long: 208319 tokens > 200000 maximum"},
        {"message": "Input too long for the model", "type": "invalid_request_error", "code": "context_length_exceeded"},
        {
            "message": "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).",
            "status": "INVALID_ARGUMENT",
            "code": 400,
        },
    ],
    ids=["openai", "anthropic", "code-only", "gemini"],
)
def test_a_400_for_a_prompt_past_the_context_window_is_context_exceeded_with_the_providers_words(
    error: dict[str, object],
) -> None:
    """The same failure as a reply whose finish reason says the window filled (LLMContextExceeded), sent as a 400
    before anything is generated: it was a plain rejected request, whose message said nothing of what mends it."""
    client = OpenAICompatibleClient("prov", BASE, "k", sleep=Sleeps())
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(return_value=httpx.Response(400, json={"error": error}))
        with pytest.raises(LLMContextExceeded) as raised:
            asyncio.run(client.send(REQUEST))
    said = str(raised.value)
    assert str(error["message"]) in said and "memory.token_budget" in said and "context window" in said, said
    assert route.call_count == 1 and raised.value.exit_code == 1 and not raised.value.billed


@pytest.mark.parametrize(
    ("said", "room"),
    [
        (
            "This endpoint's maximum context length is 131072 tokens. However, you requested about 135010 tokens "
            "(119010 of text input, 16000 in the output). Please reduce the length of either one, or use the "
            '"middle-out" transform to compress your prompt automatically.',
            131072 - 119010 - 2380,
        ),
        (
            "This endpoint's maximum context length is 131072 tokens. However, you requested about 135010 tokens "
            "(117010 of text input, 2000 of tool input, 16000 in the output). Please reduce the length of either one.",
            131072 - 119010 - 2380,
        ),
        (
            "This model's maximum context length is 32768 tokens. However, you requested 40000 tokens (24000 in the "
            "messages, 16000 in the completion). Please reduce the length of the messages or completion.",
            32768 - 24000 - 480,
        ),
    ],
    ids=["openrouter", "openrouter-tools", "vllm"],
)
def test_max_tokens_past_the_room_the_prompt_leaves_is_asked_again_once_within_it(said: str, room: int) -> None:
    """A truncation's repair asks twice the max_tokens: beside a long prompt, more than the window has room for, and
    OpenRouter (vLLM too) refuses with a 400 naming the window and the input's tokens. The call failed (a rejected
    request, then context-exceeded) where the answer would have fitted in the room the prompt leaves."""
    refused = httpx.Response(400, json={"error": {"message": said, "code": 400}})
    client = OpenAICompatibleClient("openrouter", BASE, "k", sleep=Sleeps())
    request = REQUEST.model_copy(update={"max_tokens": 16000})
    with respx.mock(assert_all_called=True) as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(
            side_effect=[refused, httpx.Response(200, json=ANSWER), httpx.Response(200, json=ANSWER)]
        )
        first = asyncio.run(client.send(request))
        again = asyncio.run(client.send(REQUEST.model_copy(update={"max_tokens": 8000})))
    sent = [json.loads(call.request.content)["max_tokens"] for call in route.calls]
    # The room is the prompt's, not the model's: a later call (a shorter prompt) is asked at its own max_tokens.
    assert sent == [16000, room, 8000]
    assert first.content == "Fine." and first.attempts == 2 and again.reasked is None
    assert first.reasked is not None and "max_tokens 16000" in first.reasked and str(room) in first.reasked


def test_a_prompt_that_leaves_no_room_or_a_second_refusal_is_context_exceeded() -> None:
    full = (
        "This endpoint's maximum context length is 131072 tokens. However, you requested about 147000 tokens "
        "(131000 of text input, 16000 in the output)."
    )
    close = (
        "This endpoint's maximum context length is 131072 tokens. However, you requested about 135010 tokens "
        "(119010 of text input, 16000 in the output)."
    )
    request = REQUEST.model_copy(update={"max_tokens": 16000})
    for said, calls in ((full, 1), (close, 2)):  # no room at all; room, refused again (asked once, not again)
        client = OpenAICompatibleClient("openrouter", BASE, "k", sleep=Sleeps())
        refused = httpx.Response(400, json={"error": {"message": said, "code": 400}})
        with respx.mock(assert_all_called=True) as mock:
            route = mock.post(f"{BASE}/chat/completions").mock(return_value=refused)
            with pytest.raises(LLMContextExceeded, match="131072 tokens"):
                asyncio.run(client.send(request))
        assert route.call_count == calls
