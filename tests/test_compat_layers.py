"""The OpenAI-compatible layers people point llmtrade at, answering as their documentation and public bug reports show
(respx at the transport: nothing leaves the process), through the committee's gateway and `ask`'s turn.

- Google's endpoint (generativelanguage.googleapis.com/v1beta/openai/) wraps an error in a list,
  `[{"error": {"code", "message", "status", "details"}}]`, and answers a blocked prompt or a model that wrote nothing
  with a 200 whose `choices` is empty (BerriAI/litellm#40477: a candidate with a finishReason and no content dropped);
- Anthropic's (api.anthropic.com/v1/) sends `{"type": "error", "error": {"type", "message"}}`;
- OpenRouter relays upstream failures inside a 200, with the real reason in `error.metadata.raw`.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx
from pydantic import Field
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.domain.records import Record
from llmtrade.errors import LLMNoEndpoint, LLMOutOfCredits, LLMRequestRejected, LLMUnavailable
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.records import CallSite as AskSite
from llmtrade.llm.tool_chat import ToolChat, Turn
from llmtrade.llm.types import ChatMessage
from llmtrade.reply_errors import LLMBadReply, LLMEmptyAnswer
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes.llm_faults import Fault
from tests.fakes.openai_server import FakeOpenAIServer

BASE = "https://llm.test/v1"
ASK = AskSite(role="ask", run_id="run-ask")


def _ask_turn(storage: Storage, *answers: httpx.Response) -> Turn:
    chat = ToolChat(
        provider="gemini",
        base_url=BASE,
        api_key="k",
        model="gemini-2.5-flash",
        max_tokens=200,
        events=storage.events,
        price=None,
        timeout_seconds=5,
    )
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(side_effect=list(answers))
        return asyncio.run(chat.turn([{"role": "user", "content": "Why did acct_3 exit?"}], [], ASK))


def _failed(storage: Storage) -> list[LLMCallFailed]:
    return [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]


# Google's 200 for a prompt its filter blocked, or a candidate that carried no content: no choice at all.
_NO_CHOICE: dict[str, Any] = {
    "object": "chat.completion",
    "model": "gemini-2.5-flash",
    "choices": [],
    "usage": {"prompt_tokens": 812, "completion_tokens": 0, "total_tokens": 812},
}


# No choices key at all: no shape of Google's (whose empty `choices` is a blocked prompt, asked once more and then
# final: tests/test_gemini_blocked_no_choice.py), an upstream's failure.
_NO_CHOICES_KEY = {k: v for k, v in _NO_CHOICE.items() if k != "choices"}


def test_asks_turn_reads_a_200_with_no_choice_as_the_gateway_does_not_as_a_python_error(storage: Storage) -> None:
    """It was LLMRequestRejected "answered gemini-2.5-flash with no message: IndexError('list index out of range')"
    (exit 1, a final refusal): a Python error's repr where the provider's answer belonged."""
    with pytest.raises(LLMBadReply) as caught:
        _ask_turn(storage, httpx.Response(200, json=_NO_CHOICES_KEY))
    said = str(caught.value)
    assert "no choice to read" in said and "Error(" not in said
    assert not isinstance(caught.value, LLMRequestRejected) and isinstance(caught.value, LLMBadReply)
    assert caught.value.exit_code == LLMUnavailable.exit_code  # temporary, as the committee's client says it
    [failed] = _failed(storage)
    assert failed.error_type == "LLMUpstreamError" and failed.billed and "no choice to read" in failed.error


REF = ModelRef(model="claude-sonnet-4-5", provider="anthropic", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="system", content="You are a PM."), ChatMessage(role="user", content="Pitch."))


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _committee_call(storage: Storage, *answers: httpx.Response, sleeps: Sleeps | None = None) -> list[dict[str, Any]]:
    """One committee call (a free-text answer) through the gateway; the request bodies sent."""
    client = OpenAICompatibleClient("anthropic", BASE, "k", sleep=sleeps or Sleeps())
    gateway = LLMGateway(
        mode=LLMMode.LIVE,
        clients={"anthropic": client},
        prices={},
        events=storage.events,
        cache=AnswerCache(storage.conn),
    )
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return answers[min(len(sent), len(answers)) - 1]

    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(side_effect=answer)
        asyncio.run(gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "rules"))
    return sent


def _anthropic(status: int, kind: str, message: str) -> httpx.Response:
    return httpx.Response(status, json={"type": "error", "error": {"type": kind, "message": message}})


# Anthropic's refusal of an account with no credit: a 400 invalid_request_error, not a 402 (anthropics/claude-code#4208,
# #66314 and many more report it word for word).
_NO_CREDIT = (
    "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase "
    "credits."
)


def test_anthropics_400_for_a_credit_balance_too_low_is_out_of_credits_not_a_refused_request(storage: Storage) -> None:
    """It was LLMRequestRejected "refused the request for claude-sonnet-4-5" (exit 1, as a malformed request would be),
    where a 402 of any other provider is LLMOutOfCredits (exit 75, "add credits": a rerun after the top-up asks
    again)."""
    with pytest.raises(LLMOutOfCredits) as caught:
        _committee_call(storage, _anthropic(400, "invalid_request_error", _NO_CREDIT))
    said = str(caught.value)
    assert "add credits" in said and "credit balance is too low" in said
    assert caught.value.exit_code == LLMUnavailable.exit_code
    [failed] = _failed(storage)
    assert failed.error_type == "LLMOutOfCredits" and "credit balance is too low" in failed.error
    with pytest.raises(LLMOutOfCredits, match="credit balance is too low"):
        _ask_turn(storage, _anthropic(400, "invalid_request_error", _NO_CREDIT))


class Pick(Record):
    """A small structured answer (its schema has a $ref, as the committee's answers' have: PitchAnswer, Decision)."""

    class Leg(Record):
        symbol: str = Field(min_length=1, max_length=10)
        weight: float = Field(ge=0, le=1)

    legs: list[Leg]
    thesis: str = Field(min_length=1, max_length=300)


_GOOGLE_BARE_400 = [
    {"error": {"code": 400, "message": "Request contains an invalid argument.", "status": "INVALID_ARGUMENT"}}
]
_PICK = {"legs": [{"symbol": "SPY", "weight": 0.5}], "thesis": "Breadth is improving."}


def _gemini_refusing_schemas(request: httpx.Request) -> httpx.Response:
    """Google's OpenAI-compatible endpoint: a response_format schema it cannot take is refused with a bare 400 naming
    nothing (googleapis/google-api-python-client#2570: a union in the schema), wrapped in a list."""
    body = json.loads(request.content)
    if (body.get("response_format") or {}).get("type") == "json_schema":
        return httpx.Response(400, json=_GOOGLE_BARE_400)
    reply = {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": json.dumps(_PICK)}, "finish_reason": "stop"}
        ]
    }
    return httpx.Response(200, json={**reply, "usage": {"prompt_tokens": 300, "completion_tokens": 40}})


def _structured_call(storage: Storage, answer: Any) -> tuple[Pick, list[dict[str, Any]]]:
    client = OpenAICompatibleClient("gemini", BASE, "k", sleep=Sleeps())
    gateway = LLMGateway(
        mode=LLMMode.LIVE, clients={"gemini": client}, prices={}, events=storage.events, cache=AnswerCache(storage.conn)
    )
    ref = ModelRef(model="gemini-2.5-flash", provider="gemini", max_tokens=1000)
    sent: list[dict[str, Any]] = []

    def recorded(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return answer(request)

    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(side_effect=recorded)
        try:
            got = asyncio.run(
                gateway.ask(ref, MESSAGES, SITE, output=Pick, rules=lambda rng: Pick.model_validate(_PICK))
            )
        finally:
            asyncio.run(client.aclose())
    return got.value, sent


def test_googles_bare_400_for_a_schema_steps_down_to_json_object_instead_of_failing_the_call(storage: Storage) -> None:
    """It was LLMRequestRejected at once (exit 1): every call to the model failed though it answers in json_object."""
    value, sent = _structured_call(storage, _gemini_refusing_schemas)
    assert value == Pick.model_validate(_PICK)
    assert [b.get("response_format", {}).get("type") for b in sent] == ["json_schema", "json_object"]
    [failed] = _failed(storage)
    assert failed.error_type == "StructuredOutputRefused" and "Request contains an invalid argument" in failed.error
    [done] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert "json_schema refused by the provider; asked again in json_object mode" in (done.note or "")


def test_googles_bare_400_without_a_schema_on_the_wire_stays_a_refused_request(storage: Storage) -> None:
    """The step down is for a schema on the wire: the same 400 in json_object mode is final, with Google's words."""
    with pytest.raises(LLMRequestRejected, match="Request contains an invalid argument") as caught:
        _structured_call(storage, lambda request: httpx.Response(400, json=_GOOGLE_BARE_400))
    assert type(caught.value) is LLMRequestRejected
    assert [f.error_type for f in _failed(storage)] == ["StructuredOutputRefused", "LLMRequestRejected"]


def test_asks_turn_that_generated_nothing_is_temporary_as_the_committees_call_is(storage: Storage) -> None:
    """Gemini 2.5 answers a 200 with finish_reason "stop", no content and no completion token now and then
    (BerriAI/litellm#24442, google-gemini/deprecated-generative-ai-python#744); the same request often answers the next
    time. The committee's client asks again within the call (llm/http_client.py `_normal`); ask's turn said
    LLMEmptyAnswer, exit 1, as if the model had chosen to say nothing."""
    empty = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3130, "completion_tokens": 0, "total_tokens": 3130},
    }
    with pytest.raises(LLMUnavailable) as caught:
        _ask_turn(storage, httpx.Response(200, json=empty))
    said = str(caught.value)
    assert "empty answer (finish_reason stop)" in said and "nothing generated" in said
    [failed] = _failed(storage)
    assert failed.error_type == "LLMUnavailable" and failed.billed and failed.prompt_tokens == 3130
    # One that spent tokens on nothing usable is the model's own answer: still the empty answer it is.
    spent = {**empty, "usage": {"prompt_tokens": 3130, "completion_tokens": 12}}
    with pytest.raises(LLMEmptyAnswer):
        _ask_turn(storage, httpx.Response(200, json=spent))


def _events(*chunks: dict[str, Any]) -> str:
    return "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"


# OpenRouter's stream opens with comment lines while the upstream has not begun (openrouter.ai/docs, Streaming:
# ": OPENROUTER PROCESSING"), DeepSeek's with ": keep-alive"; the data follow.
_COMMENTED_STREAM = ": OPENROUTER PROCESSING\n\n: OPENROUTER PROCESSING\n\n" + _events(
    {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Buy SPY, "}}]},
    {"choices": [{"index": 0, "delta": {"content": "trim TLT."}, "finish_reason": "stop"}]},
    {"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 6}},
)


def test_a_stream_opening_with_comment_lines_is_assembled_whatever_its_content_type(storage: Storage) -> None:
    """A stream nobody asked for is read by its body when a proxy labels it application/json (llm/sse.py); one that
    opened with SSE comment lines was "a body that is not JSON": retried five times, each billed at its worst case."""
    answer = httpx.Response(200, text=_COMMENTED_STREAM, headers={"content-type": "application/json"})
    sent = _committee_call(storage, answer)
    assert len(sent) == 1 and _failed(storage) == []
    [done] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert done.answer == "Buy SPY, trim TLT." and done.completion_tokens == 6
    assert _ask_turn(storage, answer).content == "Buy SPY, trim TLT."


# Google's 400 for a max_tokens above the model's most (stackblitz-labs/bolt.diy#955), wrapped in its list; the bound it
# names is exclusive.
_GOOGLE_TOO_MANY = [
    {
        "error": {
            "code": 400,
            "message": "Unable to submit request because it has a maxOutputTokens value of 1000 but the supported "
            "range is from 1 (inclusive) to 513 (exclusive). Update the value and try again.",
            "status": "INVALID_ARGUMENT",
        }
    }
]


def test_googles_400_naming_the_output_tokens_range_asks_again_within_it(storage: Storage) -> None:
    """The truncation repair asks twice the max_tokens, past a Gemini model's most; Google's 400 naming its range was
    LLMRequestRejected, final (exit 1), where OpenAI's, Anthropic's and DeepSeek's words for it ask again at the
    most."""
    ok = httpx.Response(200, json={"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hold."}}]})
    sent = _committee_call(storage, httpx.Response(400, json=_GOOGLE_TOO_MANY), ok)
    assert [body["max_tokens"] for body in sent] == [1000, 512]
    [done] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert done.answer == "Hold." and "asked at 512" in (done.note or "") and _failed(storage) == []


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        (
            Fault(400, {"type": "error", "error": {"type": "invalid_request_error", "message": _NO_CREDIT}}),
            "add credits",
        ),
        # A wait past the provider's cap (max_retry_after_seconds) fails at once, as the jobs' calls do; one within it
        # is waited out (tests/test_ask_waits.py).
        (
            Fault(
                429,
                {"error": {"code": 429, "message": "Rate limit exceeded: free-models-per-day"}},
                {"Retry-After": "86400"},
            ),
            "free-models-per-day",
        ),
    ],
    ids=["anthropic credit 400", "daily quota 429"],
)
def test_llmtrade_ask_against_a_loopback_layer_exits_75_with_the_providers_reason(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, fault: Fault, said: str
) -> None:
    """The command end to end, over a socket: a temporary failure exits 75 in one line, the provider's reason in it."""
    with FakeOpenAIServer() as server:
        server.behaviour = lambda body: fault
        monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", server.base_url)
        result = CliRunner().invoke(app, ["ask", "what did the committee decide this week?"])
        requests = list(server.requests)
    assert result.exit_code == 75, result.output
    assert said in result.output and "Traceback" not in result.output
    assert len(requests) == 1


@pytest.mark.parametrize(
    "body",
    [
        # Anthropic's answer to a path it does not serve (a base_url without its /v1: openclaw/openclaw#9422).
        {"type": "error", "error": {"type": "not_found_error", "message": "Not Found"}},
        # OpenAI's.
        {"error": {"message": "Invalid URL (POST /chat/completions)", "type": "invalid_request_error", "code": None}},
    ],
    ids=["anthropic", "openai"],
)
def test_a_404_for_a_path_the_layer_does_not_serve_names_the_url_not_the_model(
    storage: Storage, body: dict[str, Any]
) -> None:
    """It said "check the model's name and the account's settings at the provider": the model was never looked at."""
    with pytest.raises(LLMNoEndpoint) as caught:
        _committee_call(storage, httpx.Response(404, json=body))
    said = str(caught.value)
    assert f"nothing is served at {BASE}/chat/completions" in said and "base_url" in said
    assert "model's name" not in said
    with pytest.raises(LLMNoEndpoint, match="nothing is served at"):
        _ask_turn(storage, httpx.Response(404, json=body))


# OpenRouter's error during generation, as its docs show it ("Handling Errors During Streaming"): the error at the
# top of the body, beside the choice it ended with finish_reason "error"; here in one body, not a stream.
_TOP_ERROR = {
    "object": "chat.completion",
    "provider": "openai",
    "error": {"code": "server_error", "message": "Provider disconnected unexpectedly"},
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hold S"}, "finish_reason": "error"}],
    "usage": {"prompt_tokens": 30, "completion_tokens": 2},
}


def test_an_error_beside_a_choice_ended_by_error_is_judged_by_its_code_and_keeps_its_words(storage: Storage) -> None:
    """Its reason was lost ("no error detail given") and its code never read: a server_error (500) failed the call at
    once (LLMUpstreamError) where the same error on the choice, or in a stream, is asked again within the call."""
    ok = httpx.Response(200, json={"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hold."}}]})
    sent = _committee_call(storage, httpx.Response(200, json=_TOP_ERROR), ok)
    assert len(sent) == 2 and _failed(storage) == []
    with pytest.raises(LLMUnavailable, match="Provider disconnected unexpectedly"):
        _ask_turn(storage, httpx.Response(200, json=_TOP_ERROR))
