"""`assembled` (domain/records.py) builds a model as validation would, without validating: the same model in every
respect a caller can see (equal, the same dump, fields set, no extra or private state, frozen, copyable, picklable)."""

from __future__ import annotations

import pickle
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from llmtrade.domain.discovery import Suggestion, suggestion
from llmtrade.domain.events import NewEvent, StoredEvent
from llmtrade.domain.records import assembled
from llmtrade.storage.event_inserts import stored_event


def _same(built: object, validated: object) -> None:
    assert type(built) is type(validated)
    assert built == validated
    assert built.model_dump_json() == validated.model_dump_json()  # type: ignore[attr-defined]
    assert list(built.__dict__) == list(validated.__dict__)
    assert built.__pydantic_fields_set__ == validated.__pydantic_fields_set__  # type: ignore[attr-defined]
    assert built.__pydantic_extra__ is None and validated.__pydantic_extra__ is None  # type: ignore[attr-defined]
    assert built.__pydantic_private__ is None and validated.__pydantic_private__ is None  # type: ignore[attr-defined]
    assert repr(built) == repr(validated)
    assert pickle.loads(pickle.dumps(built)) == validated


def test_an_assembled_stored_event_is_the_validated_one() -> None:
    at = datetime(2024, 1, 3, 14, 30, tzinfo=UTC)
    built = stored_event(7, "X", "s-1", 2, date(2024, 1, 3), "acct_1", None, at, {"a": 1}, 1)
    validated = StoredEvent(
        type="X",
        stream="s-1",
        payload={"a": 1},
        week_id=date(2024, 1, 3),
        account_id="acct_1",
        run_id=None,
        schema_version=1,
        id=7,
        version=2,
        occurred_at=at,
    )
    _same(built, validated)
    with pytest.raises(ValidationError):  # frozen, as validated
        built.version = 3  # type: ignore[misc]
    copied = built.model_copy(update={"version": 3})
    assert copied.version == 3 and built.version == 2


def test_assembled_suggestions_and_events_are_the_validated_ones() -> None:
    _same(
        suggestion("SPY", 1, 0.5, "why", True), Suggestion(symbol="SPY", rank=1, score=0.5, passed=True, reason="why")
    )
    _same(suggestion("SPY", 2, 0.0, "why"), Suggestion(symbol="SPY", rank=2, score=0.0, reason="why"))
    fields = {"type": "X", "stream": "s", "payload": {}, "week_id": None, "account_id": None, "run_id": None}
    built = assembled(NewEvent, {**fields, "schema_version": 1}, {*fields, "schema_version"})
    _same(built, NewEvent(**fields, schema_version=1))
