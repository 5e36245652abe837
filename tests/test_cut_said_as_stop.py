"""An answer cut at max_tokens that the server calls a stop. LocalAI answers finish_reason "stop" where the limit cut
the text (mudler/LocalAI#3533), and so did litellm's Ollama route (BerriAI/litellm#25825, done_reason never read): the
cut text was taken as a whole answer (a council member's), or a cut JSON answer was repaired as invalid at the same
max_tokens, cut again, and failed as "not valid JSON". Exactly max_tokens completion tokens is the cut's own mark."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx
from pydantic import BaseModel, Field

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.llm.types import ChatMessage
from llmtrade.reply_errors import LLMTruncated
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache

BASE = "http://localai.test/v1"
REF = ModelRef(model="phi-4", provider="localai", max_tokens=400)
SITE = CallSite(role="council_member", run_id="run-1")
MESSAGES = (ChatMessage(role="user", content="Is the dollar strong?"),)


class View(BaseModel):
    view: str = Field(min_length=1, max_length=400)


def _reply(content: str, completion_tokens: int, finish: str | None = "stop") -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "phi-4",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": 40,
            "completion_tokens": completion_tokens,
            "total_tokens": 40 + completion_tokens,
        },
    }


def _run(storage: Storage, *bodies: dict[str, Any], output: type[BaseModel] | None = None) -> tuple[Any, list[Any]]:
    client = OpenAICompatibleClient("localai", BASE, None, max_retries=0)
    gateway = LLMGateway(
        mode=LLMMode.LIVE,
        clients={"localai": client},
        prices={},
        events=storage.events,
        cache=AnswerCache(storage.conn),
    )
    with respx.mock() as mock:
        route = mock.post(f"{BASE}/chat/completions").mock(side_effect=[httpx.Response(200, json=b) for b in bodies])
        try:
            if output is None:
                result: Any = asyncio.run(gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "rules"))
            else:
                result = asyncio.run(gateway.ask(REF, MESSAGES, SITE, output=output, rules=lambda rng: output()))
        except Exception as exc:
            result = exc
        return result, [json.loads(call.request.content) for call in route.calls]


@pytest.mark.parametrize("finish", ["stop", None])
def test_a_free_text_answer_of_exactly_max_tokens_said_stop_is_cut_not_taken(
    storage: Storage, finish: str | None
) -> None:
    failure, _ = _run(storage, _reply("The dollar is strong because", 400, finish))
    assert isinstance(failure, LLMTruncated), failure
    assert "exactly its max_tokens (400 completion tokens)" in str(failure) and "cut off" in str(failure)
    [failed] = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
    assert failed.error_type == "LLMTruncated" and failed.answer == "The dollar is strong because"


def test_a_cut_json_answer_said_stop_is_repaired_as_a_truncation_with_room(storage: Storage) -> None:
    answer, sent = _run(
        storage, _reply('{"view": "The dollar is str', 400), _reply('{"view": "Strong."}', 12), output=View
    )
    assert answer.value == View(view="Strong.") and answer.repaired
    assert [body["max_tokens"] for body in sent] == [400, 800]  # asked again with room to finish


def test_an_answer_under_max_tokens_said_stop_is_whole(storage: Storage) -> None:
    answer, _ = _run(storage, _reply("The dollar is strong.", 399))
    assert answer.value == "The dollar is strong."
    assert len(storage.events.read(type="LLMCallCompleted")) == 1
    [done] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert done.completion_tokens == 399


def test_asks_turn_of_exactly_max_tokens_said_stop_is_cut(storage: Storage) -> None:
    chat = ToolChat(
        provider="localai",
        base_url=BASE,
        api_key=None,
        model="phi-4",
        max_tokens=300,
        events=storage.events,
        price=None,
    )
    ask = CallSite(role="ask", run_id="run-2")
    with respx.mock() as mock:
        mock.post(f"{BASE}/chat/completions").mock(
            side_effect=[
                httpx.Response(200, json=_reply("acct_3 exited because", 300)),
                httpx.Response(200, json=_reply("acct_3 exited on its stop.", 9)),
            ]
        )
        with pytest.raises(LLMTruncated, match="exactly its max_tokens"):
            asyncio.run(chat.turn([{"role": "user", "content": "Why?"}], [], ask))
        turn = asyncio.run(chat.turn([{"role": "user", "content": "Why?"}], [], ask))
    assert turn.content == "acct_3 exited on its stop."
