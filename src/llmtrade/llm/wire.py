"""A chat request as the providers and the replay cache see it: its content address, and its form in each
response mode (json_schema strict, json_object, or JSON asked for in the prompt)."""

from __future__ import annotations

import hashlib
import json

from llmtrade.llm.structured import schema_instruction
from llmtrade.llm.types import ChatMessage, ChatRequest, ResponseMode


def cache_key(request: ChatRequest) -> str:
    """Content address of a request: everything that can change the answer, nothing else."""
    material = {
        "model": request.model,
        "temperature": request.temperature,
        "max_tokens": request.max_tokens,
        "messages": [m.model_dump() for m in request.messages],
        "schema": request.json_schema,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def in_mode(request: ChatRequest, mode: ResponseMode) -> ChatRequest:
    """The request as sent in `mode`; json_object and text carry no schema on the wire, so the prompt does."""
    if mode == "json_schema":
        return request.model_copy(update={"response_mode": mode})
    instruction = ChatMessage(
        role="user", content=schema_instruction(request.schema_name or "answer", request.json_schema or {})
    )
    return request.model_copy(update={"response_mode": mode, "messages": (*request.messages, instruction)})
