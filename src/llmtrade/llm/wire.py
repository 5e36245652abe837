"""A chat request as the providers and the replay cache see it: its content address, and its form in each
response mode (json_schema strict, json_object, or JSON asked for in the prompt)."""

from __future__ import annotations

import hashlib
import json
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

from llmtrade.llm.structured import schema_instruction
from llmtrade.llm.types import ChatMessage, ChatRequest, ResponseMode
from llmtrade.memo import IdentityMemo


def cache_key(request: ChatRequest) -> str:
    """Content address of a request: everything that can change the answer, nothing else.

    The sha256 of `json.dumps({"model", "temperature", "max_tokens", "messages", "schema"}, sort_keys=True,
    separators=(",", ":"))`, written out member by member in that sorted order, the schema's text made once per
    schema (strict_schema keeps one per output model), as it is the bulk of the text. Hashed piece by piece (the
    digest of the pieces in order is the digest of their concatenation): the pieces that repeat from ask to ask (the
    settings, a system prompt, the schema) are encoded once, not joined into a new text and encoded at every ask."""
    # Each message as json.dumps writes {"content": ..., "role": ...} sorted: its strings through json's own
    # string encoder, with no dict built per message and no encoder set up per value.
    head, middle, end = _settings(request.max_tokens, request.model, request.temperature)
    digest = hashlib.sha256(head)
    first = True
    for m in request.messages:
        if not first:
            digest.update(b",")
        first = False
        digest.update(_message(m))
    digest.update(middle)
    digest.update(_schema_text(request.json_schema))
    digest.update(end)
    return digest.hexdigest()


# (type and value of max_tokens, model and temperature) -> the key's text before the messages, between them and the
# schema, and after it. Typed: 1, 1.0 and True are one dict key, but json writes them apart; a float by its repr, what
# json writes (0.0 and -0.0 are one key too). A run asks with a handful.
_SETTINGS: dict[tuple[Any, ...], tuple[bytes, bytes, bytes]] = {}


def _settings(max_tokens: Any, model: Any, temperature: Any) -> tuple[bytes, bytes, bytes]:
    shown = repr(temperature) if type(temperature) is float else temperature
    key = (type(max_tokens), max_tokens, type(model), model, type(temperature), shown)
    kept = _SETTINGS.get(key)
    if kept is None:
        kept = (
            f'{{"max_tokens":{_dumps(max_tokens)},"messages":['.encode(),
            f'],"model":{_dumps(model)},"schema":'.encode(),
            f',"temperature":{_dumps(temperature)}}}'.encode(),
        )
        if len(_SETTINGS) < 256:
            _SETTINGS[key] = kept
    return kept


# A system prompt's text -> the message as the key writes it: a role's system prompt is one text object per template
# (the renderer keeps a plain-text template's text; the checkpoint's is read once per checkpoint), asked with again
# and again. A run's roles have a few dozen system prompts.
_SYSTEM: IdentityMemo[str, bytes] = IdentityMemo(64)


def _message(m: ChatMessage) -> bytes:
    """The message as the key's text writes it, encoded (ASCII: json's encoder escapes the rest)."""
    if m.role == "system":
        return _SYSTEM.of(m.content, _system_message)
    return f'{{"content":{_string(m.content)},"role":{_string(m.role)}}}'.encode()


def _system_message(content: str) -> bytes:
    return f'{{"content":{_string(content)},"role":"system"}}'.encode()


# What json.dumps(value, sort_keys=True, separators=(",", ":")) makes, without a new encoder each call.
_dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
# A str as json.dumps writes it (ensure_ascii, its default).
_string = encode_basestring_ascii


# A schema's members (name, id of its value) -> (the schema, its text). A request holds a shallow copy of
# strict_schema's dict, whose values are strict_schema's own (never changed: its callers must not mutate it);
# the schema kept here holds them, so no id in a key is reused while its entry lives.
_SCHEMA_TEXTS: dict[tuple[tuple[str, ...], tuple[int, ...]], tuple[dict[str, Any], bytes]] = {}


def _schema_text(schema: dict[str, Any] | None) -> bytes:
    """The schema as the key's text writes it, encoded."""
    if schema is None:
        return b"null"
    key = (tuple(schema), tuple(map(id, schema.values())))
    kept = _SCHEMA_TEXTS.get(key)
    if kept is not None:
        return kept[1]
    text = _dumps(schema).encode()
    if len(_SCHEMA_TEXTS) < 1024:  # a few dozen output models; a bound all the same
        _SCHEMA_TEXTS[key] = (schema, text)
    return text


def in_mode(request: ChatRequest, mode: ResponseMode) -> ChatRequest:
    """The request as sent in `mode`; json_object and text carry no schema on the wire, so the prompt does."""
    if mode in ("json_schema", "json_schema_core"):  # the schema goes on the wire (whole, or its core)
        return request.model_copy(update={"response_mode": mode})
    instruction = ChatMessage(
        role="user", content=schema_instruction(request.schema_name or "answer", request.json_schema or {})
    )
    return request.model_copy(update={"response_mode": mode, "messages": (*request.messages, instruction)})
