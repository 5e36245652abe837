"""The edges of every answer schema as it is sent, against the validators that read the answer.

tests/test_answer_schemas.py draws random schema-valid answers; this walks each schema node by node to its edges,
where a strict model's answer and a validator disagree first: every enum member and `anyOf` branch, strings at their
minLength and maxLength (blank, astral characters, counted as the schema counts them: code points), arrays at minItems
and maxItems (an empty one where that is 0), numbers at their bounds or, unbounded, at a double's largest and smallest.
Each must be accepted, the answer's domain record built, and its dump writable as the JSON PostgreSQL keeps. One past
each edge (a character or an item too many or too few, a value outside an enum, a property of its own) must be
refused by the schema and by the validators alike.

As sent: `json_schema` carries strict_schema whole, `json_object` and `text` the same schema in the prompt
(wire.in_mode); `json_schema_core` its core, each bound said in words and checked on the answer (repaired when
broken: README "Structured answers"), so its edges are the whole schema's.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from llmtrade.domain.committee import Threshold
from llmtrade.llm.structured import AnswerInvalid, core_schema, parse_answer, strict_schema
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.llm.wire import in_mode
from tests.test_answer_schemas import CASES, IDS

Path = tuple[str | int, ...]


class _Walk:
    """A schema's edge values, each as a whole answer: a base answer (every node at its least) with one node changed."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def node(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = self.root["$defs"][node["$ref"].removeprefix("#/$defs/")]
        return node

    def base(self, node: dict[str, Any]) -> Any:
        node = self.node(node)
        if "enum" in node:
            return node["enum"][0]
        if "anyOf" in node:
            return self.base(node["anyOf"][0])
        kind = node.get("type")
        if kind == "object":
            return {name: self.base(sub) for name, sub in node.get("properties", {}).items()}
        if kind == "array":
            return [self.base(node["items"]) for _ in range(node.get("minItems", 0))]
        if kind == "string":
            return "x" * max(node.get("minLength", 0), 1)
        if kind in ("integer", "number"):
            return node.get("minimum", 0)
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        raise AssertionError(f"a schema node the walk does not know: {node}")

    def edges(self, node: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        """(what, value) for every edge value of `node`'s subtree, the rest of it at its base."""
        node = self.node(node)
        if "enum" in node:
            for member in node["enum"]:
                yield f"enum member {member!r}", member
                if type(member) is int:  # JSON Schema's integer 2.0 is 2: an enum holds it, whatever a model writes
                    yield f"enum member {member!r} written {float(member)!r}", float(member)
            return
        if "anyOf" in node:
            for i, branch in enumerate(node["anyOf"]):
                yield f"anyOf branch {i}", self.base(branch)
                for what, value in self.edges(branch):
                    yield f"anyOf branch {i}: {what}", value
            return
        kind = node.get("type")
        if kind == "object":
            base = self.base(node)
            for name, sub in node.get("properties", {}).items():
                for what, value in self.edges(sub):
                    yield f"{name}: {what}", {**base, name: value}
        elif kind == "array":
            low, high = node.get("minItems", 0), node.get("maxItems")
            item = self.base(node["items"])
            for count in {low, high if high is not None else low + 60}:
                yield f"{count} items", [copy.deepcopy(item) for _ in range(count)]
            for what, value in self.edges(node["items"]):
                yield f"an item's {what}", [value] + [copy.deepcopy(item) for _ in range(max(low - 1, 0))]
        elif kind == "string":
            low, high = node.get("minLength", 0), node.get("maxLength")
            for count in {low, high if high is not None else low + 5000}:
                yield f"{count} characters", "x" * count
                if count:
                    yield f"{count} blanks", " " * count
                    yield f"{count} astral characters (one code point, two UTF-16 units each)", "\U0001f4c8" * count
                    yield f"{count} characters of escapes", ('"\\\n\t\u2028' * count)[:count]
        elif kind in ("integer", "number"):
            low, high = node.get("minimum"), node.get("maximum")
            if kind == "number":
                yield "a whole number", 7
                yield "minus zero", -0.0
                yield "the least positive double", 5e-324
            yield "the least", low if low is not None else (-1.7976931348623157e308 if kind == "number" else -(2**63))
            yield "the most", high if high is not None else (1.7976931348623157e308 if kind == "number" else 2**63 - 1)
        elif kind == "boolean":
            yield "true", True
            yield "false", False

    def outside(self, node: dict[str, Any]) -> Iterator[tuple[str, Any]]:
        """(what, value) one past an edge of `node`'s subtree: what the schema excludes."""
        node = self.node(node)
        if "enum" in node:
            members = node["enum"]
            if all(isinstance(m, str) for m in members):
                yield "a string outside the enum", "NOT-" + "".join(members)
                yield "an enum member in lower case", next((m.lower() for m in members if m.lower() != m), "~")
            else:
                yield "an integer past the enum", max(members) + 1
                yield "an integer below the enum", min(members) - 1
                yield "the enum's member as a string", str(members[0])
                yield "a boolean for an integer enum (JSON Schema: true is no 1)", True
            return
        if "anyOf" in node:
            for i, branch in enumerate(node["anyOf"]):
                for what, value in self.outside(branch):
                    if not any(self._admits(other, value) for other in node["anyOf"]):
                        yield f"anyOf branch {i}: {what}", value
            return
        kind = node.get("type")
        if kind == "object":
            base = self.base(node)
            yield "a property of its own", {**base, "note": "x"}
            for name in node.get("properties", {}):
                yield f"without {name}", {k: v for k, v in base.items() if k != name}
            for name, sub in node.get("properties", {}).items():
                for what, value in self.outside(sub):
                    yield f"{name}: {what}", {**base, name: value}
        elif kind == "array":
            low, high = node.get("minItems", 0), node.get("maxItems")
            item = self.base(node["items"])
            if low:
                yield f"{low - 1} items", [copy.deepcopy(item) for _ in range(low - 1)]
            if high is not None:
                yield f"{high + 1} items", [copy.deepcopy(item) for _ in range(high + 1)]
            for what, value in self.outside(node["items"]):
                yield f"an item {what}", [value] + [copy.deepcopy(item) for _ in range(max(low - 1, 0))]
            yield "not an array", "x"
        elif kind == "string":
            low, high = node.get("minLength", 0), node.get("maxLength")
            if low:
                yield f"{low - 1} characters", "x" * (low - 1)
            if high is not None:
                yield f"{high + 1} characters", "x" * (high + 1)
                yield f"{high + 1} astral characters", "\U0001f4c8" * (high + 1)
            yield "null", None
            yield "a number", 1
        elif kind in ("integer", "number"):
            if node.get("minimum") is not None:
                yield "below the least", node["minimum"] - 1
            if node.get("maximum") is not None:
                yield "past the most", node["maximum"] + 1
            yield "a numeric string", "1"
            yield "null", None

    def _admits(self, node: dict[str, Any], value: Any) -> bool:
        return jsonschema.Draft202012Validator({**self.node(node), "$defs": self.root.get("$defs", {})}).is_valid(value)


# What one past an edge the validators take though the schema refuses it, and why that is meant. A number written as
# a string is the number the model meant (pydantic's lax mode); a pick's symbol is resolved to a candidate by ticker or
# name, or dropped (agents/picker.py), not refused: a provider without strict mode may answer with a name.
TOLERATED = {"a numeric string", "a string outside the enum", "an enum member in lower case"}


def _as_read(data: Any) -> Any:
    """The answer as the gateway reads it: its JSON text parsed (parse_answer)."""
    return json.loads(json.dumps(data, allow_nan=False))


def _accepted(model: type[BaseModel], data: Any) -> BaseModel:
    value = model.model_validate(_as_read(data))
    record = value.to_answer() if hasattr(value, "to_answer") else value
    # What a stage stores: PostgreSQL's jsonb has no NaN nor infinities (json.dumps would write them).
    json.dumps(record.model_dump(mode="json"), allow_nan=False)
    return record


@pytest.mark.parametrize(("role", "model"), CASES, ids=IDS)
def test_every_edge_the_schema_as_sent_allows_is_accepted(role: str, model: type[BaseModel]) -> None:
    schema = strict_schema(model)
    walk = _Walk(schema)
    checker = jsonschema.Draft202012Validator(schema)
    core = jsonschema.Draft202012Validator(core_schema(schema))
    edges = list(walk.edges(schema))
    assert len(edges) > 5
    refused = []
    for what, data in edges:
        assert checker.is_valid(data), f"{role}: the walk made an answer its schema refuses ({what})"
        assert core.is_valid(data), f"{role}: the core schema refuses an edge of the whole ({what})"
        try:
            _accepted(model, data)
        except (ValidationError, ValueError) as exc:
            refused.append(f"{what}: {str(exc).splitlines()[:3]}")
    assert not refused, f"{role}: the schema sent allows, the validators refuse:\n" + "\n".join(refused)


@pytest.mark.parametrize(("role", "model"), CASES, ids=IDS)
def test_one_past_every_edge_is_refused_by_the_schema_and_the_validators_alike(
    role: str, model: type[BaseModel]
) -> None:
    schema = strict_schema(model)
    walk = _Walk(schema)
    checker = jsonschema.Draft202012Validator(schema)
    past = list(walk.outside(schema))
    assert len(past) > 5
    disagree = []
    for what, data in past:
        in_schema = checker.is_valid(data)
        try:
            model.model_validate(_as_read(data))
            validated = True
        except ValidationError:
            validated = False
        tolerated = validated and what.rsplit(": ", 1)[-1].removeprefix("an item ") in TOLERATED
        if role != "picker" and "enum" in what and tolerated:
            tolerated = False  # a ticker outside the universe is the picker's alone to resolve
        if in_schema or (validated and not tolerated):
            said = f"schema {'allows' if in_schema else 'refuses'}, validators {'accept' if validated else 'refuse'}"
            disagree.append(f"{what}: {said}")
    assert not disagree, f"{role}:\n" + "\n".join(disagree)


@pytest.mark.parametrize(("role", "model"), CASES, ids=IDS)
def test_every_mode_sends_the_schema_whose_edges_are_walked(role: str, model: type[BaseModel]) -> None:
    """json_schema sends strict_schema itself; json_object and text put it in the prompt word for word."""
    schema = strict_schema(model)
    request = ChatRequest(
        model="m",
        messages=(ChatMessage(role="user", content="go"),),
        temperature=0.0,
        max_tokens=100,
        json_schema=schema,
        schema_name=model.__name__,
    )
    assert in_mode(request, "json_schema").json_schema == schema
    for mode in ("json_object", "text"):
        said = in_mode(request, mode).messages[-1].content
        assert json.loads(said[said.index("{") :]) == schema


def _pitch_text(value: str) -> str:
    """A pitch answer whose invalidation rule's value is written `value`, as a model's JSON text says it."""
    rule = f'{{"indicator":"rsi_14","op":">","value":{value}}}'
    return (
        '{"instrument":"SPY","horizon":"1w","thesis_bullets":["Breadth is improving."],'
        f'"indicators":[{{"name":"RSI","threshold":{rule},"why":"momentum"}}],'
        f'"invalidation":{{"text":"RSI overheats","rule":{rule}}},"conviction":1}}'
    )


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e400", "-1E999"])
def test_a_number_no_double_holds_is_refused_naming_it_not_stored_as_nothing(value: str) -> None:
    """Python's json reads NaN and Infinity (no JSON at all: a model without a strict format writes them) and 1e400 (a
    JSON number past a double's range) as non-finite floats, which the float fields took: the record's dump then held
    a value PostgreSQL's jsonb refuses ("Token "Infinity" is invalid"), failing the stage's append after the answer
    was taken. Now the answer is invalid, repaired naming the number."""
    pitch = CASES[IDS.index("pm_pitch-1")][1]
    with pytest.raises(AnswerInvalid) as refused:
        parse_answer(_pitch_text(value), pitch)
    assert value in str(refused.value) and "finite" in str(refused.value)
    assert refused.value.shape is False  # the fields are the schema's: no sign of a format ignored


def test_the_largest_and_smallest_doubles_are_taken() -> None:
    pitch = CASES[IDS.index("pm_pitch-1")][1]
    for value in ("1.7976931348623157e308", "-1.7976931348623157E+308", "5e-324", "-0.0", "12"):
        answer = parse_answer(_pitch_text(value), pitch)
        assert answer.invalidation.rule.value == float(value)
        assert isinstance(answer.invalidation.rule, Threshold)
