"""A reply whose text holds what PostgreSQL cannot store: NUL (JSON's \\u0000: models emit it, as agent traces found:
METR/vivaria#433) and a lone UTF-16 surrogate (a \\ud83d whose pair never came: a stream split inside an emoji). jsonb
refuses both ("unsupported Unicode escape sequence: \\u0000 cannot be converted to text"; a surrogate pair must be
whole), so the call's event could not be appended: the paid answer was lost and the stage failed with the database's
error instead of the model's answer. Each is read as U+FFFD, the replacement character, as a decoder reads bytes it
cannot: the answer is kept, and the mark shows where the model wrote it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx
from pydantic import Field

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.domain.records import Record
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.llm.types import ChatMessage
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache

BASE = "http://vllm.test/v1"
REF = ModelRef(model="qwen3", provider="vllm", max_tokens=300)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
ASK = CallSite(role="ask", run_id="run-2")
# The body's text as the server wrote it: JSON escapes, which json.loads turns into the characters jsonb refuses.
NUL = '"Hold SPY\\u0000 into the print."'
SURROGATE = '"Hold SPY \\ud83d into the print."'
PAIR = '"Hold SPY \\ud83d\\udcc8 into the print."'


def _body(content: str) -> str:
    return (
        '{"id":"chatcmpl-1","object":"chat.completion","model":"qwen3","choices":[{"index":0,"message":'
        f'{{"role":"assistant","content":{content},"reasoning_content":{content}}},"finish_reason":"stop"}}],'
        '"usage":{"prompt_tokens":20,"completion_tokens":9}}'
    )


def _stream(content: str) -> str:
    chunk = (
        '{"id":"c","object":"chat.completion.chunk","model":"qwen3","choices":[{"index":0,"delta":'
        f'{{"content":{content}}},"finish_reason":"stop"}}]}}'
    )
    return f"data: {chunk}\n\ndata: [DONE]\n\n"


def _gateway(storage: Storage) -> LLMGateway:
    client = OpenAICompatibleClient("vllm", BASE, None, max_retries=0)
    return LLMGateway(
        mode=LLMMode.LIVE, clients={"vllm": client}, prices={}, events=storage.events, cache=AnswerCache(storage.conn)
    )


def _answered(storage: Storage, response: httpx.Response) -> Any:
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=response)
        messages = (ChatMessage(role="user", content="Pitch."),)
        return asyncio.run(_gateway(storage).ask_text(REF, messages, SITE, rules=lambda rng: "rules")).value


@pytest.mark.parametrize(
    ("content", "kept"),
    [(NUL, "Hold SPY\ufffd into the print."), (SURROGATE, "Hold SPY \ufffd into the print.")],
    ids=["NUL", "lone surrogate"],
)
@pytest.mark.parametrize("streamed", [False, True], ids=["body", "event stream"])
def test_an_answer_with_a_character_jsonb_refuses_is_kept_marked(
    storage: Storage, content: str, kept: str, streamed: bool
) -> None:
    response = (
        httpx.Response(200, text=_stream(content), headers={"content-type": "text/event-stream"})
        if streamed
        else httpx.Response(200, text=_body(content), headers={"content-type": "application/json"})
    )
    assert _answered(storage, response) == kept
    [done] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert done.answer == kept


def test_a_whole_surrogate_pair_is_the_character_it_makes(storage: Storage) -> None:
    response = httpx.Response(200, text=_body(PAIR), headers={"content-type": "application/json"})
    assert _answered(storage, response) == "Hold SPY \U0001f4c8 into the print."


def test_asks_turn_keeps_such_an_answer_marked(storage: Storage) -> None:
    chat = ToolChat(
        provider="vllm", base_url=BASE, api_key=None, model="qwen3", max_tokens=300, events=storage.events, price=None
    )
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(
            return_value=httpx.Response(200, text=_body(NUL), headers={"content-type": "application/json"})
        )
        turn = asyncio.run(chat.turn([{"role": "user", "content": "Why?"}], [], ASK))
    assert turn.content == "Hold SPY\ufffd into the print."
    [done] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert done.answer == turn.content


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(
            400, json={"error": {"message": "bad byte \u0000 in messages[0].content", "type": "invalid_request_error"}}
        ),
        httpx.Response(400, content=b"upstream said: bad\x00request", headers={"content-type": "text/plain"}),
    ],
    ids=["error object", "plain text body"],
)
def test_a_refusal_whose_words_hold_nul_is_recorded_and_said(storage: Storage, response: httpx.Response) -> None:
    """The provider's reason is kept in the message and the LLMCallFailed event, its NUL read as U+FFFD: the event's
    append failed on it, and the user met the database's error instead of the provider's reason."""
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(return_value=response)
        messages = (ChatMessage(role="user", content="Pitch."),)
        with pytest.raises(Exception) as refused:
            asyncio.run(_gateway(storage).ask_text(REF, messages, SITE, rules=lambda rng: "rules"))
    assert type(refused.value).__name__ == "LLMRequestRejected", refused.value
    assert "bad\ufffd" in str(refused.value) or "byte \ufffd in" in str(refused.value)
    [failed] = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
    assert failed.error == str(refused.value)


class _Note(Record):
    text: str = Field(max_length=4000)  # bounded, as a chairman's rationale is


@pytest.mark.parametrize(
    ("escape", "kept"),
    [("\\ud83d", "Hold SPY \ufffd into the print."), ("\\u0000", "Hold SPY \ufffd into the print.")],
    ids=["lone surrogate", "NUL"],
)
def test_a_structured_answer_whose_json_escapes_such_a_character_is_kept_marked(
    storage: Storage, escape: str, kept: str
) -> None:
    """The model's own JSON holds the escape (a model writing its JSON ASCII-only split an emoji's pair): json.loads
    reads it as a lone surrogate, which pydantic refuses ("unable to parse raw data as a unicode string"). The answer
    was invalid, so was its repair, and the stage failed: a chairman's rationale with one failed the weekly run. Read
    as U+FFFD, as the body's own are, it is the answer it was."""
    content = json.dumps('{"text": "Hold SPY ' + escape + ' into the print."}')
    response = httpx.Response(200, text=_body(content), headers={"content-type": "application/json"})
    with respx.mock() as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(return_value=response)
        messages = (ChatMessage(role="user", content="Note."),)
        answer = asyncio.run(
            _gateway(storage).ask(REF, messages, SITE, output=_Note, rules=lambda rng: _Note(text="rules"))
        )
    assert answer.value == _Note(text=kept) and route.call_count == 1  # no repair asked
