"""Structured answers: the JSON schema sent to the model, and validating what comes back.

Validation happens here whatever the provider promised: a strict `json_schema` response format
is a request, not a guarantee, and local servers often ignore it.
"""

from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel, ValidationError

from llmtrade.llm.types import RESPONSE_MODES, ResponseMode
from llmtrade.storage.storable_text import storable_parsed

T = TypeVar("T", bound=BaseModel)

_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class AnswerInvalid(Exception):
    """The answer is not valid JSON or does not fit the schema; the message says how, briefly. `shape`: it is not even
    of the schema's shape (not a JSON object, or not the schema's own fields at its top), which no provider holding it
    to the schema lets through; False when its fields are the schema's (a bound, a type or a rule broken inside them,
    which some strict modes do not hold: core_schema)."""

    def __init__(self, message: str, *, shape: bool = True):
        super().__init__(message)
        self.shape = shape


def format_ignored(
    modes: dict[tuple[str, str], ResponseMode], key: tuple[str, str], mode: str | None, invalid: AnswerInvalid
) -> str | None:
    """Why the provider evidently ignored a strict format `mode` (json_schema or its core, where the schema goes only
    on the wire, so the model never read it), else None: an answer of the wrong shape came back in it (Anthropic's
    OpenAI-compatible endpoint ignores response_format; proxies drop what they do not know). Then json_object, the
    schema in the prompt, is kept in `modes` (the gateway's, by provider and model) for `key`: never a stronger mode
    than one a concurrent call stepped down to."""
    if mode not in ("json_schema", "json_schema_core") or not invalid.shape:
        return None
    modes[key] = max(modes.get(key, "json_schema"), "json_object", key=RESPONSE_MODES.index)
    return (
        f"{mode} ignored by the provider (an answer of the wrong shape: {invalid}); asked in json_object mode, the "
        "schema in the prompt"
    )


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


# Keywords some strict modes refuse with a 400 though the JSON schema is valid: Anthropic's ("For 'string' type,
# property 'maxLength' is not supported"; minItems above 1, maxItems, numeric bounds), DeepSeek's, OpenAI's on a
# fine-tuned model ("'minLength' is not permitted"). core_schema says them in words instead.
BOUND_KEYWORDS = frozenset(
    {
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "pattern",
        "uniqueItems",
    }
)
# A refusal that names one of them: asking with core_schema may be taken where the whole schema was not.
BOUND_REFUSED = re.compile(r"\b(?:" + "|".join(sorted(BOUND_KEYWORDS)) + r")\b")


def core_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (a strict_schema) with only the keywords every strict mode takes: each BOUND_KEYWORDS bound moves into
    its node's description ("1 to 1000 characters"), so the model still reads it and the provider enforces the rest
    (types, enums, required, no other properties). The answer is still validated against every bound (parse_answer),
    and one that breaks a bound is repaired with the bound named. A minItems of 0 or 1 stays: every strict mode takes
    it. A new dict: `schema` is strict_schema's cached one."""
    return _core(schema)


def _core(node: Any) -> Any:
    if isinstance(node, list):
        return [_core(value) for value in node]
    if not isinstance(node, dict):
        return node
    kept: dict[str, Any] = {}
    bounds: dict[str, Any] = {}
    for key, value in node.items():
        if key in BOUND_KEYWORDS and not (key == "minItems" and value in (0, 1)):
            bounds[key] = value
        elif key in ("properties", "$defs"):
            kept[key] = {name: _core(child) for name, child in value.items()}
        else:
            kept[key] = _core(value)
    if bounds:
        said = _said(bounds)
        kept["description"] = f"{kept['description']} ({said})" if kept.get("description") else said
    return kept


def _said(bounds: dict[str, Any]) -> str:
    """The bounds of one node in words, e.g. "1 to 1000 characters", "at most 5 items"."""
    parts = []
    for low, high, unit in (("minLength", "maxLength", "characters"), ("minItems", "maxItems", "items")):
        if low in bounds and high in bounds:
            parts.append(f"{bounds[low]} to {bounds[high]} {unit}")
        elif low in bounds:
            parts.append(f"at least {bounds[low]} {unit}")
        elif high in bounds:
            parts.append(f"at most {bounds[high]} {unit}")
    words = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "more than",
        "exclusiveMaximum": "less than",
        "multipleOf": "a multiple of",
        "pattern": "matching the regular expression",
    }
    parts.extend(f"{words[key]} {bounds[key]}" for key in words if key in bounds)
    if bounds.get("uniqueItems"):
        parts.append("no item twice")
    return "; ".join(parts)


def parse_answer(text: str, model: type[T]) -> T:
    """Parse and validate; raises AnswerInvalid with a message a model can act on."""
    match = _FENCE.match(text)
    body = match.group(1) if match else text.strip()
    if not body:
        raise AnswerInvalid("the answer was empty; a JSON object was required")
    try:
        try:
            data = _loads(body)
        except json.JSONDecodeError as exc:
            inner = _extract_object(body)
            try:
                data = _loads(inner) if inner is not None else None
            except json.JSONDecodeError:
                data = None
            if data is None:
                raise AnswerInvalid(
                    f"the answer is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
                ) from None
    except _NotFinite as exc:
        raise AnswerInvalid(str(exc), shape=False) from None
    # The answer's own JSON may escape a NUL or a lone surrogate (a model writing ASCII-only JSON split an emoji's
    # pair): json.loads reads it, pydantic refuses a lone surrogate in a bounded str ("unable to parse raw data as a
    # unicode string"), so the answer and its repair were invalid and the stage failed. Read as U+FFFD, as the reply's
    # own such characters are (storage/storable_text.py): what the stages read is what is stored.
    data = storable_parsed(data, body)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # Only the top's fields tell: a nested error may be a union's other members failing beside a broken bound.
        fields = {field.alias or name for name, field in model.model_fields.items()}
        shape = not isinstance(data, dict) or set(data) != fields
        raise AnswerInvalid(describe(exc), shape=shape) from None


class _NotFinite(ValueError):
    """A number in the answer no double holds."""


def _loads(text: str) -> Any:
    """The answer's JSON. Python's json reads NaN and Infinity (not JSON: a model without a strict format writes them)
    and a number past a double's range (1e400, JSON all the same) as non-finite floats, which a float field would take
    and no stored record can hold (PostgreSQL's jsonb has no such number): _NotFinite instead, naming it."""
    return json.loads(text, parse_constant=_not_finite, parse_float=_finite)


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        _not_finite(text)
    return number


def _not_finite(text: str) -> NoReturn:
    raise _NotFinite(
        f"the answer holds the number {text}, which is no finite number: write each number as a finite one"
    )


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
