"""Old events keep loading after a payload changes shape: the upcast hook keyed by schema_version."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from llmtrade.domain.events import EventPayload, NewEvent
from llmtrade.storage.bootstrap import Storage


class PriceNoted(EventPayload):
    """Version 1 had `px`; version 2 renamed it `price`; version 3 added `currency`."""

    schema_version: ClassVar[int] = 3
    price: float
    currency: str

    @staticmethod
    def upcast_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
        payload = dict(payload)
        payload["price"] = payload.pop("px")
        return payload

    @staticmethod
    def upcast_v2_v3(payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "currency": "USD"}


def _store_raw(storage: Storage, payload: dict[str, Any], version: int) -> None:
    storage.events.append([NewEvent(type="PriceNoted", stream="prices", payload=payload, schema_version=version)])


def test_an_event_stored_at_every_older_version_loads_as_the_current_shape(storage: Storage) -> None:
    _store_raw(storage, {"px": 10.5}, 1)
    _store_raw(storage, {"price": 11.0}, 2)
    storage.events.append([NewEvent.of(PriceNoted(price=12.0, currency="EUR"), stream="prices")])

    loaded = [PriceNoted.from_event(e) for e in storage.events.read_stream("prices")]

    assert loaded == [
        PriceNoted(price=10.5, currency="USD"),
        PriceNoted(price=11.0, currency="USD"),
        PriceNoted(price=12.0, currency="EUR"),
    ]
    assert [e.schema_version for e in storage.events.read_stream("prices")] == [1, 2, 3]


def test_an_event_newer_than_the_code_is_refused_with_a_clear_error(storage: Storage) -> None:
    _store_raw(storage, {"price": 1.0, "currency": "USD", "venue": "x"}, 4)

    with pytest.raises(ValueError, match="schema version 4, newer than this llmtrade knows"):
        PriceNoted.from_event(storage.events.read_stream("prices")[0])


def test_a_payload_class_with_a_gap_in_its_upcasts_fails_when_defined() -> None:
    with pytest.raises(TypeError, match="upcast_v2_v3"):

        class Broken(EventPayload):
            schema_version: ClassVar[int] = 3
            value: int

            @staticmethod
            def upcast_v1_v2(payload: dict[str, Any]) -> dict[str, Any]:
                return payload


def test_a_backtest_week_stored_with_its_old_call_count_loads_without_it(storage: Storage) -> None:
    """BacktestWeekDone.llm_calls (schema 1) counted only the calls after a resume and was never read: dropped."""
    from datetime import date

    from llmtrade.domain.backtests import BacktestWeekDone

    old = {"week_id": "2026-01-07", "jobs": 24, "llm_calls": 68}
    storage.events.append([NewEvent(type="BacktestWeekDone", stream="backtest", payload=old, schema_version=1)])
    storage.events.append([NewEvent.of(BacktestWeekDone(week_id=date(2026, 1, 14), jobs=24), stream="backtest")])
    stored = storage.events.read_stream("backtest")
    assert [BacktestWeekDone.from_event(e) for e in stored] == [
        BacktestWeekDone(week_id=date(2026, 1, 7), jobs=24),
        BacktestWeekDone(week_id=date(2026, 1, 14), jobs=24),
    ]
    assert "llm_calls" not in stored[1].payload and stored[1].schema_version == 2
