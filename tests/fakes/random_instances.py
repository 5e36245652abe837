"""Random instances of a JSON schema: what a strict-mode model may return for the schema it is sent.

A strict-mode model is only bound by the schema, so any value the schema admits can come back. This
generator picks among them at random (seeded, so a failure reproduces): every enum value and
`anyOf` branch, array lengths and string lengths anywhere within their bounds, numbers of either
sign and of any size. It covers the subset `llm.structured.strict_schema` emits (objects with
all-required properties, arrays, strings, integers, numbers, booleans, enums, `$ref`, `anyOf`);
anything else raises, so a new keyword cannot silently go unexercised.

Standard library only: the benchmarks' fake server imports it.
"""

from __future__ import annotations

import random
import string
from typing import Any

# Mostly words, sometimes punctuation, digits, quotes and non-ASCII: all valid in a JSON string.
_ALPHABET = string.ascii_letters + string.digits + " .,;:-'\"/()%\u00e9\u00fc\u2013\u20ac\u4e2d"
_LONG_TAIL = 40  # strings and arrays without an upper bound grow at most this far past their minimum
_KNOWN = frozenset(
    {
        "type",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "enum",
        "const",
        "anyOf",
        "$ref",
        "$defs",
        "title",
        "description",
    }
)


def random_instance(schema: dict[str, Any], rng: random.Random) -> Any:
    """One random value valid against `schema` (a root schema: its `$defs` resolve `$ref`s)."""
    return _Walker(schema, rng).value(schema)


class _Walker:
    def __init__(self, root: dict[str, Any], rng: random.Random) -> None:
        self.root = root
        self.rng = rng

    def value(self, node: dict[str, Any]) -> Any:
        unknown = set(node) - _KNOWN
        if unknown:
            raise ValueError(f"random_instance does not know {sorted(unknown)} (in {node})")
        rng = self.rng
        if "$ref" in node:
            return self.value(self._resolve(node["$ref"]))
        if "const" in node:
            return node["const"]
        if "enum" in node:
            return rng.choice(node["enum"])
        if "anyOf" in node:
            return self.value(rng.choice(node["anyOf"]))
        kind = node.get("type")
        if kind == "object":
            return self._object(node)
        if kind == "array":
            low = node.get("minItems", 0)
            count = rng.randint(low, node.get("maxItems", low + 4))
            return [self.value(node.get("items", {})) for _ in range(count)]
        if kind == "string":
            return self._string(node)
        if kind == "integer":
            return rng.randint(int(node.get("minimum", -(10**6))), int(node.get("maximum", 10**6)))
        if kind == "number":
            return self._number(node)
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "null":
            return None
        raise ValueError(f"random_instance cannot generate {node}")

    def _object(self, node: dict[str, Any]) -> dict[str, Any]:
        properties: dict[str, Any] = node.get("properties", {})
        if node.get("additionalProperties") not in (False, None) or set(node.get("required", [])) != set(properties):
            # Strict mode requires every property and forbids others; a schema that does not is a bug.
            raise ValueError(f"not a strict object schema: {node}")
        return {name: self.value(sub) for name, sub in properties.items()}

    def _string(self, node: dict[str, Any]) -> str:
        low = node.get("minLength", 0)
        high = node.get("maxLength", low + _LONG_TAIL)
        # Both ends of the range are where validators disagree with schemas, so visit them often.
        length = self.rng.choice([low, high, self.rng.randint(low, min(high, low + _LONG_TAIL))])
        # choices, not a choice per character: the same uniform pick of each character, some 10 times quicker (strings
        # were 85% of tests/test_answer_schemas.py's time: 4 million choice calls).
        return "".join(self.rng.choices(_ALPHABET, k=length))

    def _number(self, node: dict[str, Any]) -> float:
        low = node.get("minimum", -1e9)
        high = node.get("maximum", 1e9)
        pick = self.rng.choice(["edge", "small", "any"])
        if pick == "edge":
            return self.rng.choice([low, high, 0.0]) if low <= 0.0 <= high else self.rng.choice([low, high])
        if pick == "small":
            return min(max(self.rng.uniform(-2.0, 2.0), low), high)
        return self.rng.uniform(low, high)

    def _resolve(self, ref: str) -> dict[str, Any]:
        prefix = "#/$defs/"
        if not ref.startswith(prefix):
            raise ValueError(f"only local $defs references are supported, got {ref!r}")
        return self.root["$defs"][ref.removeprefix(prefix)]
