"""The gateway's per-call work that an offline backtest repeats tens of thousands of times, kept lean: the rules'
random source, a rules answer validated from its text, and a call's LLMCallCompleted event built in one step.

Each gives what the long way gave (tests/test_offline_ask_lean.py holds them to it): the same draws, the same
validated answer (or the same AnswerInvalid), the same event, byte for byte."""

from __future__ import annotations

import random
import threading
import types
import typing
from datetime import date
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel

from llmtrade.domain.events import LLMCallCompleted, NewEvent
from llmtrade.domain.records import assembled
from llmtrade.llm.structured import parse_answer, strict_schema
from llmtrade.llm.types import ChatMessage, ChatRequest

M = TypeVar("M", bound=BaseModel)


_REQUEST_SET = frozenset(("model", "messages", "temperature", "max_tokens", "schema_name", "json_schema"))


def request_of(
    model: str, messages: tuple[ChatMessage, ...], temperature: Any, max_tokens: Any, output: type[BaseModel] | None
) -> ChatRequest:
    """`ChatRequest(model=model, messages=messages, temperature=..., max_tokens=..., schema_name=output's name,
    json_schema=strict_schema(output))`, built unvalidated when every value is already what validation keeps (a str
    model, ChatMessages, a float temperature, an int max_tokens): the schema a shallow copy of strict_schema's, as
    validation makes it. Every ask builds one."""
    schema = strict_schema(output) if output else None
    if (
        type(model) is str
        and type(temperature) is float
        and type(max_tokens) is int
        and all(type(m) is ChatMessage for m in messages)
        and (schema is None or type(schema) is dict)
    ):
        values = {
            "model": model,
            "messages": messages,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "schema_name": output.__name__ if output else None,
            "json_schema": dict(schema) if schema is not None else None,
            "response_mode": None,
        }
        return assembled(ChatRequest, values, set(_REQUEST_SET))
    return ChatRequest(
        model=model,
        messages=messages,
        temperature=temperature,
        max_tokens=max_tokens,
        schema_name=output.__name__ if output else None,
        json_schema=schema,
    )


class SeededOnUse:
    """`random.Random(seed)`, seeded when the rules first draw from it: the same draws, and no seeding (~12 us, a
    tenth of a checkpoint's offline ask) for the rules that draw nothing (the checkpoint's, the most asked)."""

    __slots__ = ("_rng", "_seed")

    def __init__(self, seed: int):
        self._seed = seed
        self._rng: random.Random | None = None

    def __getattr__(self, name: str) -> object:
        rng = self._rng
        if rng is None:
            rng = self._rng = random.Random(self._seed)
        return getattr(rng, name)


def parsed(content: str, source: str, output: type[M]) -> M:
    """`parse_answer(content, output)`. The rules' answer (`source` "rules") is the JSON text of a model (no fence, no
    prose around it), validated from that text by pydantic's own parser, without json.loads building a dict first;
    should it fail, parse_answer says why, as for any answer. The answer is validated from its text either way."""
    if source == "rules":
        shared = _shareable(output)
        if shared:
            kept = _RULES_ANSWERS.get((output, content))
            if kept is not None:
                return kept  # type: ignore[return-value]  # kept under this very class
        try:
            value = output.model_validate_json(content)
        except ValueError:
            pass
        else:
            if shared:
                with _RULES_LOCK:
                    if len(_RULES_ANSWERS) >= _RULES_KEPT:
                        _RULES_ANSWERS.clear()
                    _RULES_ANSWERS[(output, content)] = value
            return value
    return parse_answer(content, output)


# (output class, the rules' reply text) -> the answer validated from it. The checkpoint's rules give a few dozen
# texts (STAY, and the thresholds broken) ten thousand times a backtest; validation is a function of the class and
# the text, so the same pair validates to an equal answer, handed out shared: kept only for a class whose every
# value is immutable (`_shareable`), so no caller can change what another is given. The class is held in the key
# (no id is reused); at most `_RULES_KEPT` entries, started afresh when full.
_RULES_ANSWERS: dict[tuple[type[BaseModel], str], BaseModel] = {}
_RULES_KEPT = 1024
_RULES_LOCK = threading.Lock()
_ATOMS = (str, int, float, bool, type(None))


def _shareable(annotation: Any) -> bool:
    try:
        return _shareable_kind(annotation)
    except TypeError:  # an annotation that cannot be hashed: not looked into, never shared
        return False


@cache
def _shareable_kind(annotation: Any) -> bool:
    """Whether every value of `annotation` is immutable: atoms, Literals, unions and Annotated of such, and frozen
    models whose fields are all such (no list, dict or set anywhere inside, nor a model whose fields can be set)."""
    if annotation in _ATOMS:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return True
    if origin in (typing.Union, types.UnionType):
        return all(_shareable(arg) for arg in typing.get_args(annotation))
    if origin is typing.Annotated:
        return _shareable(typing.get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return bool(annotation.model_config.get("frozen")) and all(
            _shareable(field.annotation) for field in annotation.model_fields.values()
        )
    return False


# LLMCallCompleted's fields in their order, each with the exact types its values may have for the event to be built
# here (what its validation would keep as they are, and its JSON dump write as they are).
_STR, _OPT_STR, _INT, _OPT_INT = (str,), (str, type(None)), (int,), (int, type(None))
_FIELDS: tuple[tuple[str, tuple[type, ...]], ...] = (
    ("role", _STR),
    ("provider", _STR),
    ("model", _STR),
    ("source", _STR),
    ("messages", (list,)),
    ("answer", _STR),
    ("schema_name", _OPT_STR),
    ("outcome", _STR),
    ("problem", _OPT_STR),
    ("prompt_tokens", _INT),
    ("completion_tokens", _INT),
    ("cost_usd", (float, type(None))),
    ("latency_ms", (float,)),
    ("attempts", _INT),
    ("cache_key", _STR),
    ("reasoning", _OPT_STR),
    ("think", _OPT_STR),
    ("answer_from", _STR),
    ("response_mode", _OPT_STR),
    ("finish_reason", _OPT_STR),
    ("max_tokens", _OPT_INT),
    ("note", _OPT_STR),
    ("cost_counted_usd", (float, type(None))),
    ("cut_off_attempts", _INT),
)


_NAMES = tuple(name for name, _ in _FIELDS)
# The tuples of the values' types (one per field, in order) found to be what _FIELDS allows: a run's records show a
# handful (the offline rules', a live answer's, a repair's), checked once each rather than field by field per call.
_KINDS: set[tuple[type, ...]] = set()


def _kinds_allowed(kinds: tuple[type, ...]) -> bool:
    allowed = all(kind in types for kind, (_, types) in zip(kinds, _FIELDS, strict=True))
    if allowed and len(_KINDS) < 256:
        _KINDS.add(kinds)
    return allowed


def completed_event(
    values: dict[str, Any], *, stream: str, week_id: date | None, account_id: str | None, run_id: str | None
) -> NewEvent:
    """`NewEvent.of(LLMCallCompleted(**values), stream=..., ...)`: when every value has its field's exact type (a
    `messages` list of {"role", "content"} dicts of str, fresh: the event takes it), the payload is `values` in the
    fields' order, which is what the model's validation keeps and its dump gives, built without the model between
    (~10 us of a ~100 us offline ask); otherwise the model is built and dumped. `values` already in the fields' order
    (completed_values builds it so: the caller's fresh dict) is the payload itself."""
    messages = values.get("messages")
    if (
        len(values) == len(_FIELDS)
        and type(messages) is list
        and all(
            type(m) is dict and len(m) == 2 and type(m.get("role")) is str and type(m.get("content")) is str
            for m in messages
        )
    ):
        in_order = tuple(values) == _NAMES
        kinds = tuple(map(type, values.values())) if in_order else tuple(type(values.get(name)) for name in _NAMES)
        if kinds in _KINDS or _kinds_allowed(kinds):
            payload = values if in_order else {name: values[name] for name in _NAMES}
            made = NewEvent.unvalidated(
                "LLMCallCompleted",
                payload,
                LLMCallCompleted.schema_version,
                stream=stream,
                week_id=week_id,
                account_id=account_id,
                run_id=run_id,
            )
            if made is not None:
                return made
    return NewEvent.of(LLMCallCompleted(**values), stream=stream, week_id=week_id, account_id=account_id, run_id=run_id)
