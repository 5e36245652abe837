"""A valuation's event (every checkpoint values every account) is built from the account's values without the
AccountValued model when they are what its validation keeps: the same event, field for field and in order."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from llmtrade.brokers import fills
from llmtrade.brokers.fills import valuation_event
from llmtrade.domain.records import assembled
from llmtrade.domain.trading import AccountSnapshot

WEEK = date(2024, 1, 1)


def _account(**values: Any) -> AccountSnapshot:
    fields = {"account_id": "acct_1", "cash": 1000.25, "equity": 10_500.5, "buying_power": 0.0, "positions": {}}
    fields |= {"realized_pnl": 12.5, "unrealized_pnl": -3.25} | values
    return assembled(AccountSnapshot, fields, set(fields))  # as the paper broker builds it: values as given


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"realized_pnl": None, "unrealized_pnl": None},
        {"equity": 10_000, "cash": 0},  # ints: validation makes floats of them
        {"equity": float("inf")},
        {"unrealized_pnl": float("nan")},
        {"cash": 1e-7, "equity": 123456789.123456},
        {"cash": True},
    ],
)
@pytest.mark.parametrize("occasion", ["checkpoint 2024-01-03 10:30", "week start", "after fill"])
def test_the_event_is_the_validated_models(
    values: dict[str, Any], occasion: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = _account(**values)
    made, expected = valuation_event(account, occasion=occasion, week_id=WEEK, run_id="r1")
    monkeypatch.setattr(fills, "_valued_dump", lambda *_: None)  # the model built and dumped, as before
    reference, expected_before = valuation_event(account, occasion=occasion, week_id=WEEK, run_id="r1")
    assert expected == expected_before
    assert made == reference
    assert list(made.payload) == list(reference.payload)
    assert [type(v) for v in made.payload.values()] == [type(v) for v in reference.payload.values()]


def test_no_model_is_built_for_values_validation_would_keep(monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(*a: object, **kw: object) -> None:
        raise AssertionError("AccountValued built")

    monkeypatch.setattr(fills, "AccountValued", type("Refused", (), {"__init__": refused, "schema_version": 1}))
    made, _ = valuation_event(_account(), occasion="checkpoint 2024-01-03 10:30", week_id=WEEK, run_id="r1")
    assert made.type == "AccountValued" and made.payload["equity"] == 10_500.5
