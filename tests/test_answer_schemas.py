"""Every rule an answer must satisfy is in the schema the model is sent, or listed here with why not.

A strict-mode model returns any instance of the schema it is given. A validator that rejects a
schema-valid instance costs a repair round trip and can cost the role, so:

- every validator (pydantic field and model validators) on every model sent to an LLM must be in
  ALLOWED, with the reason its rule cannot be expressed in the schema;
- random schema-valid instances of every schema the gateway sends (built the way each role builds
  it) must validate, many times, with fixed seeds; replies that become domain records must convert.
"""

from __future__ import annotations

import itertools
import json
import random
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel

from llmtrade.agents import checkpointer, council_ranker
from llmtrade.domain.checkpoints import PostmortemAnswer
from llmtrade.domain.committee import PitchAnswer, ReviewAnswer, decision_reply_schema, pitch_reply_schema
from llmtrade.domain.discovery import picker_reply_schema
from llmtrade.domain.research import findings_schema
from llmtrade.llm.structured import BOUND_KEYWORDS, core_schema, strict_schema
from tests.fakes.random_instances import random_instance

SYMBOLS = ["SPY", "QQQ", "IWM", "TLT", "GLD"]
RUNS = 300

# "Model.validator" -> why the rule it checks cannot be carried by a strict-mode JSON schema. Empty:
# every rule of every answer is in its schema today.
ALLOWED: dict[str, str] = {}

# Rules the schemas do carry but some providers do not enforce (documented here, checked by pydantic):
# string lengths (minLength/maxLength) and array lengths (minItems/maxItems) are sent as keywords;
# providers that refuse them get the capability fallback of the LLM layer. Integer ranges are enums
# (conviction -2..2, scores 1..10) because an enum is the one bound every strict mode enforces.


def answer_models() -> dict[str, list[type[BaseModel]]]:
    """Every model sent to an LLM, per role, built as the role builds it (per universe, labels, position)."""
    return {
        "research": [findings_schema(SYMBOLS)],
        "pm_pitch": [pitch_reply_schema(SYMBOLS)],
        "peer_review": [ReviewAnswer],
        "chairman_decision": [decision_reply_schema(SYMBOLS)],
        # close_only: a held-only symbol's (no FLIP; at +-1 the kept side is a one-value enum)
        "checkpoint": [
            checkpointer.answer_schema(before, close_only=close_only)
            for close_only in (False, True)
            for before in (-2, -1, 1, 2)
        ],
        "postmortem": [PostmortemAnswer],
        "council_ranking": [council_ranker.ranking_schema(list(labels)) for labels in ("A", "AB", "ABC", "ABCDEFG")],
        "picker": [picker_reply_schema(SYMBOLS, most) for most in (1, 3, 10)],
    }


def _cases() -> Iterator[tuple[str, type[BaseModel]]]:
    for role, models in answer_models().items():
        for model in models:
            yield role, model


CASES = list(_cases())
IDS = [f"{role}-{i}" for i, (role, _) in enumerate(CASES)]


def test_every_role_that_asks_for_a_structured_answer_is_covered() -> None:
    agents = Path(__file__).resolve().parents[1] / "src" / "llmtrade" / "agents"
    asking = {path.stem for path in agents.glob("*.py") if "gateway.ask(" in path.read_text()}
    roles = {
        "researcher": "research",
        "pm": "pm_pitch",
        "reviewer": "peer_review",
        "chairman": "chairman_decision",
        "checkpointer": "checkpoint",
        "postmortem_writer": "postmortem",
        "council_ranker": "council_ranking",
        "picker": "picker",
    }
    assert asking == set(roles), "a new role asks for a structured answer: add its models to answer_models()"
    assert set(roles.values()) == set(answer_models())


def validators(model: type[BaseModel]) -> list[str]:
    """Every field and model validator on `model` and on each model reachable through its fields."""
    found: list[str] = []
    seen: set[type] = set()

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation in seen:
                return
            seen.add(annotation)
            decorators = annotation.__pydantic_decorators__
            for kind in ("validators", "field_validators", "root_validators", "model_validators"):
                found.extend(f"{annotation.__name__}.{name}" for name in getattr(decorators, kind))
            for field in annotation.model_fields.values():
                walk(field.annotation)
        for arg in typing.get_args(annotation):
            walk(arg)

    walk(model)
    return found


@pytest.mark.parametrize(("role", "model"), CASES, ids=IDS)
def test_no_validator_can_reject_what_the_schema_allows_unless_listed(role: str, model: type[BaseModel]) -> None:
    unlisted = [name for name in validators(model) if name not in ALLOWED]
    assert not unlisted, f"{role}: {unlisted} may reject a schema-valid answer; put the rule in the schema"


def test_the_walk_finds_a_validator_the_schema_does_not_carry() -> None:
    # The domain record still checks that direction and conviction agree; it is built from a reply, never sent.
    assert validators(PitchAnswer) == ["PitchAnswer._conviction_matches_direction"]


@pytest.mark.parametrize(("role", "model"), CASES, ids=IDS)
def test_random_schema_valid_answers_validate(role: str, model: type[BaseModel]) -> None:
    schema = strict_schema(model)
    checker = jsonschema.Draft202012Validator(schema)
    for seed in range(RUNS):
        data = random_instance(schema, random.Random(f"{role}:{model.__name__}:{seed}"))
        checker.validate(data)  # the generator only makes what the schema admits
        answer = model.model_validate(json.loads(json.dumps(data)))  # as the gateway reads it
        to_answer = getattr(answer, "to_answer", None)
        if to_answer is not None:
            to_answer()  # the domain record built from the reply keeps its own rules


def test_a_random_ranking_orders_every_label_once_by_score() -> None:
    labels = ["C", "A", "D", "B"]
    schema = council_ranker.ranking_schema(labels)
    for seed in range(RUNS):
        reply = schema.model_validate(random_instance(strict_schema(schema), random.Random(seed)))
        order = reply.order()
        assert sorted(order) == sorted(labels)
        scores = [reply.by_label()[label].score for label in order]
        assert scores == sorted(scores, reverse=True)
        ties = [(a, b) for a, b in itertools.pairwise(order) if reply.by_label()[a].score == reply.by_label()[b].score]
        assert all(a < b for a, b in ties)  # ties by label: deterministic


def test_a_pitch_direction_is_its_conviction_sign() -> None:
    schema = pitch_reply_schema(SYMBOLS)
    assert "direction" not in strict_schema(schema)["properties"]
    for seed in range(RUNS):
        answer = schema.model_validate(random_instance(strict_schema(schema), random.Random(seed))).to_answer()
        expected = {1: "LONG", -1: "SHORT", 0: "FLAT"}[(answer.conviction > 0) - (answer.conviction < 0)]
        assert answer.direction == expected


@pytest.mark.parametrize("before", [-2, -1, 1, 2])
def test_a_checkpoint_move_agrees_with_the_position(before: int) -> None:
    schema = checkpointer.answer_schema(before)
    side = 1 if before > 0 else -1
    seen = set()
    for seed in range(RUNS):
        answer = schema.model_validate(random_instance(strict_schema(schema), random.Random(seed))).to_answer()
        after = answer.conviction_after * side
        assert {"EXIT": after == 0, "FLIP": after < 0, "STAY": after > 0, "REDUCE": after > 0}[answer.action]
        seen.add(answer.action)
    assert seen == {"STAY", "REDUCE", "EXIT", "FLIP"}


@pytest.mark.parametrize("before", [-2, -1, 1, 2])
def test_a_close_only_checkpoint_move_never_flips_nor_adds(before: int) -> None:
    schema = checkpointer.answer_schema(before, close_only=True)
    side = 1 if before > 0 else -1
    seen = set()
    for seed in range(RUNS):
        answer = schema.model_validate(random_instance(strict_schema(schema), random.Random(seed))).to_answer()
        after = answer.conviction_after * side
        assert 0 <= after <= abs(before) and (after == 0) == (answer.action == "EXIT"), answer
        seen.add(answer.action)
    assert seen == {"STAY", "REDUCE", "EXIT"}


def test_instruments_and_labels_are_enums_and_integers_are_bounded_by_enums() -> None:
    pitch = strict_schema(pitch_reply_schema(SYMBOLS))
    assert pitch["properties"]["instrument"]["enum"] == SYMBOLS
    assert pitch["properties"]["conviction"]["enum"] == [-2, -1, 0, 1, 2]
    decision = strict_schema(decision_reply_schema(SYMBOLS))
    assert decision["$defs"]["SelectedTrade"]["properties"]["instrument"]["enum"] == SYMBOLS
    review = strict_schema(ReviewAnswer)
    assert review["$defs"]["ReviewScores"]["properties"]["clarity"]["enum"] == list(range(1, 11))
    ranking = strict_schema(council_ranker.ranking_schema(["B", "A"]))
    assert ranking["$defs"]["Assessments"]["required"] == ["B", "A"]
    assert ranking["$defs"]["Assessments"]["additionalProperties"] is False

    def integers(node: Any) -> Iterator[dict[str, Any]]:
        if isinstance(node, dict):
            if node.get("type") == "integer":
                yield node
            for value in node.values():
                yield from integers(value)
        elif isinstance(node, list):
            for value in node:
                yield from integers(value)

    for role, model in CASES:
        for node in integers(strict_schema(model)):
            assert "enum" in node, f"{role}: an integer without an enum: {node}"


def _pairs(whole: Any, core: Any) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each schema node of `whole` beside its node in `core`."""
    if isinstance(whole, dict):
        yield whole, core
        for key, value in whole.items():
            if isinstance(value, (dict, list)):
                yield from _pairs(value, core[key])
    elif isinstance(whole, list):
        for left, right in zip(whole, core, strict=True):
            yield from _pairs(left, right)


def _leaves(node: dict[str, Any], bounds: dict[str, Any]) -> dict[str, Any]:
    """A node's own rules (not its children, its bounds nor its description)."""
    return {
        k: v
        for k, v in node.items()
        if k not in bounds and k != "description" and not isinstance(v, dict)
        if not (isinstance(v, list) and any(isinstance(item, dict) for item in v))
    }


@pytest.mark.parametrize(("role", "model"), CASES, ids=IDS)
def test_the_core_schema_keeps_every_rule_but_the_bounds_and_says_each_bound(role: str, model: type[BaseModel]) -> None:
    """What a strict mode that refuses a bound keyword (Anthropic's) is asked with: the same types, enums, required
    properties and no others, and each bound in the node's description, where the model reads it."""
    whole = strict_schema(model)
    before = json.dumps(whole, sort_keys=True)
    core = core_schema(whole)
    assert json.dumps(whole, sort_keys=True) == before  # strict_schema's cached dict is left alone
    for left, right in _pairs(whole, core):
        bounds = {k: v for k, v in left.items() if k in BOUND_KEYWORDS and not (k == "minItems" and v in (0, 1))}
        assert not {k for k in right if k in bounds}, f"{role}: {sorted(bounds)} still sent"
        assert _leaves(left, bounds) == _leaves(right, bounds)  # types, enums, required, additionalProperties
        for value in bounds.values():
            assert str(value) in right["description"], f"{role}: {bounds} not said in {right['description']!r}"
