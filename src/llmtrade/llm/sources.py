"""Where the gateway's answers come from (llm/gateway.py): its mode (a live provider, the offline rules, or the replay
cache) and the contract a live provider's client keeps with it (llm/providers.py builds the clients)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Protocol

from llmtrade.llm.call_records import BilledAttempts
from llmtrade.llm.types import ChatReply, ChatRequest


class LLMMode(StrEnum):
    LIVE = "live"
    OFFLINE = "offline"
    REPLAY = "replay"


class ProviderClient(Protocol):
    name: str
    # Whether a structured answer is first asked with `json_schema` (models.yaml `structured_outputs`), else
    # `json_object`: part of the contract, not a capability asked for with getattr and a default.
    structured_outputs: bool
    # What of the provider can change an answer (its base URL, formats, reasoning_as_answer), as one string.
    answer_settings: str

    async def send(
        self, request: ChatRequest, *, before_attempt: Callable[[BilledAttempts], Awaitable[None]] | None = None
    ) -> ChatReply: ...

    async def aclose(self) -> None: ...
