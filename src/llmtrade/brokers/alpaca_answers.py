"""An Alpaca JSON object read by attribute, as alpaca-py's models are read: the fallback for an answer those models
refuse (brokers/alpaca_client.py `AlpacaTrading.read`).

alpaca-py validates every answer against models whose enums lag Alpaca's own: a value it does not know yet (an asset
exchange "ASCX", an asset class "crypto_perp", a clearing broker: alpacahq/alpaca-py #276, #624, #436) failed the
whole read. One position bought by hand on a new venue made the account unreadable, so nothing could value it, check
its stop-loss rules or record a fill until alpaca-py was upgraded (an audit against Alpaca's behaviour). The same
answer asked again as JSON is read here by name: every field our code reads (brokers/alpaca_orders.py reads fields by
name and enums by their string values) is as alpaca-py gives it, timestamps as aware datetimes, money and quantities as
Alpaca's strings.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class Answer:
    """One JSON object of Alpaca's answer: `answer.field` is its value (None when absent, as an optional model field
    is), a field ending in `_at` an aware datetime, a nested object an Answer and a list of them Answers."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]):
        self._data = data

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _read(name, self._data.get(name))

    def __repr__(self) -> str:
        return f"Answer({self._data!r})"


def answer_of(raw: Any) -> Any:
    """Alpaca's JSON answer (an object, a list of them, or nothing) as Answers."""
    if isinstance(raw, dict):
        return Answer(raw)
    if isinstance(raw, list):
        return [answer_of(item) for item in raw]
    return raw


def _read(name: str, value: Any) -> Any:
    if isinstance(value, str) and name.endswith("_at"):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return answer_of(value)
