"""Records of the LLM layer: what is sent, what comes back, and how it went."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# Strongest first: a strict schema, the same with only the keywords every strict mode takes (llm/structured.py
# core_schema: the bounds said in descriptions), then "some JSON object", then JSON asked for in the prompt alone.
ResponseMode = Literal["json_schema", "json_schema_core", "json_object", "text"]
RESPONSE_MODES: tuple[ResponseMode, ...] = ("json_schema", "json_schema_core", "json_object", "text")


class ChatMessage(_Frozen):
    role: Literal["system", "user", "assistant"]
    content: str


class Usage(_Frozen):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # USD; None when neither the provider nor models.yaml prices say.
    cost_usd: float | None = None
    # False: the reply carried no `usage` at all, so its tokens (0 here) and cost are unknown, not zero.
    reported: bool = True


class ChatRequest(_Frozen):
    model: str
    messages: tuple[ChatMessage, ...]
    temperature: float = 0.7
    max_tokens: int = 4000
    # JSON schema of the wanted answer, with its name; None for free text.
    schema_name: str | None = None
    json_schema: dict | None = None
    # How the schema is asked for on the wire; the gateway steps down when a provider refuses one.
    # None keeps the client's default (json_schema, or json_object where structured outputs are off).
    response_mode: ResponseMode | None = None


class ChatReply(_Frozen):
    """A provider's answer to one request (after any retries)."""

    content: str
    usage: Usage
    attempts: int
    latency_ms: float
    provider: str
    finish_reason: str | None = None
    reasoning: str | None = None
    think: str | None = None
    answer_from: Literal["content", "reasoning"] = "content"
    response_mode: ResponseMode | None = None
    # Earlier attempts cut off after a 200 (the whole-attempt deadline, a dropped body): the provider generated
    # and bills them, at a cost nobody reported.
    cut_off: int = 0
    # Earlier attempts that failed after a 200 and reported their usage (an error in the body): billed at that cost.
    billed: tuple[Usage, ...] = ()
    # Why the call asked once more within itself (an answer Gemini withheld for RECITATION): kept in its event's note.
    reasked: str | None = None


class Outcome(StrEnum):
    OK = "ok"
    REPAIRED = "repaired"  # first answer invalid, the repair attempt fixed it
    INVALID = "invalid"  # still invalid after the repair attempt
    FAILED = "failed"  # the provider never answered (or refused)
    CACHED = "cached"  # answered from the replay cache
