"""Structured answers: the JSON schema sent to the model, and validating what comes back.

Validation happens here whatever the provider promised: a strict `json_schema` response format
is a request, not a guarantee, and local servers often ignore it.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class AnswerInvalid(Exception):
    """The answer is not valid JSON or does not fit the schema; the message says how, briefly."""


@lru_cache(maxsize=256)
def strict_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the form strict structured outputs require.

    Every object lists all its properties as required and forbids others; defaults are dropped
    because strict mode does not accept them (our output models have no optional fields).
    """
    schema = model.model_json_schema()
    _tighten(schema)
    # Cached per model class (12 concurrent reviews share one); callers must not mutate it.
    return schema


def _tighten(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("default", None)
        if "const" in node:
            # A one-value Literal (a move's action): `enum` is the form every strict mode accepts.
            node["enum"] = [node.pop("const")]
        if node.get("type") == "object" and "properties" in node:
            node["additionalProperties"] = False
            node["required"] = list(node["properties"])
        for value in node.values():
            _tighten(value)
    elif isinstance(node, list):
        for value in node:
            _tighten(value)


def parse_answer(text: str, model: type[T]) -> T:
    """Parse and validate; raises AnswerInvalid with a message a model can act on."""
    match = _FENCE.match(text)
    body = match.group(1) if match else text.strip()
    if not body:
        raise AnswerInvalid("the answer was empty; a JSON object was required")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        inner = _extract_object(body)
        try:
            data = json.loads(inner) if inner is not None else None
        except json.JSONDecodeError:
            data = None
        if data is None:
            raise AnswerInvalid(
                f"the answer is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
            ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise AnswerInvalid(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
        parts.append(f"{where}: {err['msg'].removeprefix('Value error, ')}{shown}")
    more = len(exc.errors()) - 10
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def _extract_object(text: str) -> str | None:
    """The outermost {...} of an answer wrapped in prose (plain-text mode has no format to hold it to)."""
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else None


def schema_instruction(name: str, schema: dict[str, Any]) -> str:
    """What json_object and plain-text modes add to the prompt: they carry no schema on the wire."""
    return (
        f"Answer with only a JSON object (the {name}) that satisfies this JSON schema exactly, with no prose "
        f"and no code fences:\n{json.dumps(schema, separators=(',', ':'))}"
    )


def truncation_prompt(max_tokens: int) -> str:
    return (
        f"Your previous answer was cut off at the token limit before it was complete. Answer again, "
        f"more briefly (well under {max_tokens} tokens: shorter texts, no repetition), with only a JSON "
        "object that satisfies the schema exactly: no prose, no code fences."
    )


def repair_prompt(problem: str) -> str:
    return (
        "Your previous answer could not be used: "
        f"{problem}.\n"
        "Answer again with only a JSON object that satisfies the schema exactly: no prose, no code fences."
    )
