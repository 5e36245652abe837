"""An `ask` turn's body and messages as the tool chat (llm/tool_chat.py) reads and records them: the reply's JSON or why
there is none, and a chat message in the strings-only form a call's event keeps."""

from __future__ import annotations

import json
from typing import Any

import httpx

from llmtrade.llm.error_pages import body_text
from llmtrade.llm.sse import StreamCut, reply_body


def readable_body(response: httpx.Response) -> tuple[Any, str | None]:
    """The body as JSON (a stream nobody asked for assembled: llm/sse.py) and None; else what came (a cut stream's
    part, or None) and why it cannot be read."""
    try:
        return reply_body(response), None
    except StreamCut as exc:
        return exc.partial, str(exc)
    except ValueError:
        return None, f"a body that is not JSON: {body_text(response)!r}"


def flat_message(message: dict[str, Any]) -> dict[str, str]:
    """A chat message as the call records keep them (strings only): tool calls and results as JSON text."""
    flat = {"role": str(message.get("role", ""))}
    content = message.get("content")
    flat["content"] = content if isinstance(content, str) else json.dumps(content)
    if message.get("tool_calls"):
        flat["tool_calls"] = json.dumps(message["tool_calls"])
    if message.get("tool_call_id"):
        flat["tool_call_id"] = str(message["tool_call_id"])
    return flat
