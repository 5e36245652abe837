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
from typing import Any

import httpx
import pytest
import respx

from llmtrade.domain.events import LLMCallFailed
from llmtrade.errors import LLMBadReply, LLMRequestRejected, LLMUnavailable
from llmtrade.llm.records import CallSite as AskSite
from llmtrade.llm.tool_chat import ToolChat, Turn
from llmtrade.storage.bootstrap import Storage

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


@pytest.mark.parametrize(
    "body",
    [_NO_CHOICE, {k: v for k, v in _NO_CHOICE.items() if k != "choices"}],
    ids=["choices empty", "no choices key"],
)
def test_asks_turn_reads_a_200_with_no_choice_as_the_gateway_does_not_as_a_python_error(
    storage: Storage, body: dict[str, Any]
) -> None:
    """It was LLMRequestRejected "answered gemini-2.5-flash with no message: IndexError('list index out of range')"
    (exit 1, a final refusal): a Python error's repr where the provider's answer belonged."""
    with pytest.raises(LLMBadReply) as caught:
        _ask_turn(storage, httpx.Response(200, json=body))
    said = str(caught.value)
    assert "no choice to read" in said and "Error(" not in said
    assert not isinstance(caught.value, LLMRequestRejected) and isinstance(caught.value, LLMBadReply)
    assert caught.value.exit_code == LLMUnavailable.exit_code  # temporary, as the committee's client says it
    [failed] = _failed(storage)
    assert failed.error_type == "LLMUpstreamError" and failed.billed and "no choice to read" in failed.error
