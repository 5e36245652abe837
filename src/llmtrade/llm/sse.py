"""A chat completion that came as server-sent events though no stream was asked (some proxies and providers stream
anyway), assembled into the one `chat.completion` body the reply normaliser reads.

The events are OpenAI's `chat.completion.chunk` format: `data: {json}` lines, events apart by a blank line, ended by
`data: [DONE]`; comment lines (OpenRouter's `: OPENROUTER PROCESSING`), `event:` and `id:` lines carry nothing. Each
chunk's `choices[0].delta` adds to the answer: `content`, `reasoning` / `reasoning_content`, `refusal`, and
`tool_calls` by their `index` (the id and name once, the arguments in pieces); the last `finish_reason` and
`native_finish_reason` stand; `usage` comes on a chunk of its own (choices empty). An error mid-stream is OpenRouter's
top-level `error` beside `finish_reason: "error"`: it is put on the choice, where the clients judge it by its code.
A stream that ends with neither `[DONE]` nor a finish_reason was cut off: StreamCut, with what came (billed).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from llmtrade.storage.storable_text import storable_parsed


class StreamCut(ValueError):
    """An event stream that ended before its end; `partial`: the body assembled from what came."""

    def __init__(self, message: str, partial: dict[str, Any]):
        super().__init__(message)
        self.partial = partial


# How an event stream's first line opens: data, or a comment (OpenRouter's ": OPENROUTER PROCESSING" while the upstream
# has not begun, DeepSeek's ": keep-alive"), or an event's name or id. No JSON body opens so.
_STREAM_OPENINGS = ("data:", ":", "event:", "id:")


def is_event_stream(response: httpx.Response) -> bool:
    """Whether a reply is server-sent events: its content-type says so, or its body opens as a stream does (a `data:`
    line, or a comment line before it)."""
    kind = response.headers.get("content-type", "").lower()
    return kind.startswith("text/event-stream") or response.text.lstrip().startswith(_STREAM_OPENINGS)


def reply_body(response: httpx.Response) -> Any:
    """A 200's body as JSON: the body itself, or the completion assembled from its event stream. Raises ValueError for
    a body that is neither (StreamCut, a ValueError, for a stream cut off before its end)."""
    if not is_event_stream(response):
        return storable_parsed(response.json(), response.text)  # no NUL nor lone surrogate: storage keeps it
    return assemble(response.text)


def assemble(text: str) -> dict[str, Any]:
    """The `chat.completion` body the events of `text` make (module docstring). Raises ValueError for a data line that
    is not JSON or a stream with no data, StreamCut for one cut off before its end."""
    chunks: list[dict[str, Any]] = []
    done = False
    for data in _events(text):
        if data.strip() == "[DONE]":
            done = True
            continue
        try:
            chunk = json.loads(data)
        except ValueError:
            raise ValueError(f"an event stream whose data is not JSON: {data[:120]!r}") from None
        if isinstance(chunk, dict):
            chunks.append(chunk)
    if not chunks:
        raise ValueError(f"an event stream with no data: {text[:120]!r}")
    body = storable_parsed(_fold(chunks), text)
    choices = body.get("choices") or [{}]
    if not done and choices[0].get("finish_reason") is None and not body.get("error"):
        raise StreamCut(f"an event stream cut off before its end ({len(chunks)} chunk(s), no [DONE])", body)
    return body


def _events(text: str) -> list[str]:
    """Each event's data (its `data:` lines joined by newlines), in order."""
    events: list[str] = []
    lines: list[str] = []
    for raw in [*text.splitlines(), ""]:
        if not raw.strip():
            if lines:
                events.append("\n".join(lines))
                lines = []
        elif raw.startswith("data:"):
            lines.append(raw[5:].removeprefix(" "))
    return events


def _fold(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    parts: dict[str, list[str]] = {"content": [], "reasoning": [], "reasoning_content": [], "refusal": []}
    calls: dict[int, dict[str, Any]] = {}
    choice: dict[str, Any] = {"index": 0, "finish_reason": None}
    error: Any = None
    usage: Any = None
    for chunk in chunks:
        error = chunk.get("error") or error
        usage = chunk.get("usage") if isinstance(chunk.get("usage"), dict) else usage
        for one in chunk.get("choices") or []:
            if not isinstance(one, dict) or one.get("index", 0) != 0:
                continue
            delta = one.get("delta") if isinstance(one.get("delta"), dict) else one.get("message") or {}
            for key, kept in parts.items():
                if isinstance(delta.get(key), str):
                    kept.append(delta[key])
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    _add_call(calls, call)
            for key in ("finish_reason", "native_finish_reason", "error"):
                if one.get(key) is not None:
                    choice[key] = one[key]
    message: dict[str, Any] = {"role": "assistant", "content": "".join(parts["content"]) or None}
    message |= {key: "".join(kept) for key, kept in parts.items() if key != "content" and kept}
    if calls:
        message["tool_calls"] = [calls[i] for i in sorted(calls)]
    choice["message"] = message
    if error and not choice.get("error"):  # OpenRouter's mid-stream error: on the choice it ended
        choice["error"] = error
        choice["finish_reason"] = choice["finish_reason"] or "error"
    first = chunks[0]
    body: dict[str, Any] = {"id": first.get("id"), "object": "chat.completion", "model": first.get("model")}
    body["choices"] = [choice] if any(c.get("choices") for c in chunks) or error is None else []
    if not body["choices"]:
        body["error"] = error
    if usage is not None:
        body["usage"] = usage
    return body


def _add_call(calls: dict[int, dict[str, Any]], piece: dict[str, Any]) -> None:
    index = piece.get("index") if isinstance(piece.get("index"), int) else len(calls)
    call = calls.setdefault(index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}})
    if piece.get("id"):
        call["id"] = piece["id"]
    function = piece.get("function") if isinstance(piece.get("function"), dict) else {}
    if function.get("name"):
        call["function"]["name"] = function["name"]
    if isinstance(function.get("arguments"), str):
        call["function"]["arguments"] += function["arguments"]
