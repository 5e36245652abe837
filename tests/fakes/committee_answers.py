"""Valid answers for the committee's roles, for fake LLM servers in tests and benchmarks.

Pitches and decisions are written here so tests get a sensible trade (a real instrument, a
positive conviction); everything else falls back to the generic schema-instance generator.
"""

from __future__ import annotations

import json
import re
from typing import Any

from tests.fakes.openai_server import completion_for, schema_in_prompt, schema_name

# How llmtrade names the answer when the schema rides in the prompt (json_object and text modes).
_PROMPTED_NAME = re.compile(r"a JSON object \(the (\w+)\)")


def _enum(schema: dict[str, Any], *path: str) -> list[str]:
    node: Any = schema
    for key in path:
        node = node[key]
        if "$ref" in node:
            node = schema["$defs"][node["$ref"].split("/")[-1]]
    return node["enum"]


def _threshold(indicator: str = "price_vs_sma_20", op: str = "<", value: float = -0.02) -> dict[str, Any]:
    return {"indicator": indicator, "op": op, "value": value}


def pitch_for(schema: dict[str, Any], model: str, conviction: int = 2) -> dict[str, Any]:
    """A pitch whose direction is its conviction's sign (2: a strong LONG)."""
    symbols = _enum(schema, "properties", "instrument")
    return {
        "instrument": symbols[sum(map(ord, model)) % len(symbols)],
        "horizon": "1w",
        "thesis_bullets": ["Trend and carry agree.", "Positioning is light."],
        "indicators": [{"name": "trend", "threshold": _threshold("price_vs_sma_20", ">", 0.0), "why": "trend intact"}],
        "invalidation": {"text": "A close 2% under the 20-day average.", "rule": _threshold()},
        "conviction": conviction,
    }


def decision_for(schema: dict[str, Any]) -> dict[str, Any]:
    symbols = _enum(schema["$defs"]["SelectedTrade"], "properties", "instrument")
    return {
        "selected_trade": {"instrument": symbols[0], "horizon": "1w"},
        "conviction": 1,
        "rationale": "The best-reviewed pitch, at half size.",
        "dissent_summary": ["One reviewer thinks the move is priced."],
        "monitoring_plan": {"checkpoints": ["12:00"], "key_indicators": [], "watch_conditions": ["gap down"]},
        "invalidation": {"text": "A close 2% under the 20-day average.", "rule": _threshold()},
    }


def committee_answer(body: dict[str, Any]) -> dict[str, Any]:
    reply = completion_for(body)
    fmt = (body.get("response_format") or {}).get("json_schema") or _prompted_format(body)
    if fmt and fmt["name"] == "PitchAnswer":
        reply["choices"][0]["message"]["content"] = json.dumps(pitch_for(fmt["schema"], body["model"]))
    elif fmt and fmt["name"] == "DecisionAnswer":
        reply["choices"][0]["message"]["content"] = json.dumps(decision_for(fmt["schema"]))
    return reply


def grok_cannot_pitch(body: dict[str, Any]) -> dict[str, Any]:
    """The committee's answers, but grok's pitch is prose no repair makes valid: its PM fails, the run is degraded."""
    reply = committee_answer(body)
    if body["model"] == "x-ai/grok-4" and schema_name(body) == "PitchAnswer":
        reply["choices"][0]["message"]["content"] = "I would rather not commit to a trade."
    return reply


def _prompted_format(body: dict[str, Any]) -> dict[str, Any] | None:
    schema = schema_in_prompt(body)
    if schema is None:
        return None
    match = _PROMPTED_NAME.search(body["messages"][-1].get("content") or "")
    return {"name": match.group(1), "schema": schema} if match else None
