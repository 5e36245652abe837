"""The config's earlier shapes: the fields added to its models since a backtest first recorded its config's hash.

A backtest records the sha256 of its loaded config's JSON (BacktestStarted.config_hash) and refuses to resume on
another. A field added to a model with a default is in every later dump, so the same YAML files, hashed by a later
llmtrade, hash otherwise: an upgrade alone refused every unfinished backtest ("started with other inputs: config
hash") and made leaderboard and report say it ran with another config. `earlier_dumps` gives the config as each
earlier build dumped it (as upcasting does for events, domain/events.py): the dump without the fields added since,
where they hold their default; a field set away from its default is a setting no earlier build had, so no earlier
shape holds it. A field added to a config model goes at the end of ADDED (tests/test_config_history.py fails on one
that is not there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from llmtrade.config.models import Config, Instrument, Provider

# Oldest first, as they were added: (model, field). The earliest build these reach back to is 84904eb (2026-11-30).
ADDED: tuple[tuple[type[BaseModel], str], ...] = (
    (Provider, "attempt_floor_seconds"),  # c647a08
    (Provider, "min_tokens_per_second"),  # c647a08
    (Instrument, "held_only"),  # 37db4db
    (Provider, "context_tokens"),  # llmq: the server's context window (llm/prompt_cut.py)
)


def earlier_dumps(config: Config) -> list[str]:
    """`config.model_dump_json()` as each earlier shape had it, newest first; none past a field set off its default."""
    return [config.model_dump_json(exclude=exclude) for exclude in earlier_shapes(config)]


def earlier_shapes(config: Config) -> list[dict[Any, Any]]:
    """pydantic's `exclude` that dumps `config` as each earlier shape had it, newest first (`earlier_dumps`)."""
    shapes: list[dict[Any, Any]] = []
    for since in range(len(ADDED) - 1, -1, -1):
        exclude = _exclude(config, ADDED[since:])
        if exclude is None:
            break  # a field added since holds a value of its own: no earlier build could have had this config
        shapes.append(exclude)
    return shapes


def _exclude(value: Any, dropped: Sequence[tuple[type[BaseModel], str]]) -> dict[Any, Any] | None:
    """pydantic's `exclude` for the `dropped` fields everywhere in `value`; {} when none is there; None when one holds
    a value other than its default."""
    spec: dict[Any, Any] = {}
    items: Any
    if isinstance(value, BaseModel):
        items = []
        for name, field in type(value).model_fields.items():
            held = getattr(value, name)
            if any(isinstance(value, model) and name == added for model, added in dropped):
                if held != field.get_default(call_default_factory=True):
                    return None
                spec[name] = True
            else:
                items.append((name, held))
    else:
        items = value.items() if isinstance(value, Mapping) else enumerate(value) if _sequence(value) else ()
    # Every field or item not dropped here: what it holds of the dropped fields, by its name or key.
    for key, item in items:
        inner = _exclude(item, dropped)
        if inner is None:
            return None
        if inner:
            spec[key] = inner
    return spec


def _sequence(value: Any) -> bool:
    return isinstance(value, list | tuple)
