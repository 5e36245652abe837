"""Which of Alpaca's refusals of an order last the week (brokers/alpaca_refusals.py `is_lasting`), read from its
words as Alpaca sends them: {"code": ..., "message": ...} with the status. Those that do are given up once
(tests/test_lasting_refusals.py); any other, one whose words are not known included, is sent again as before.

The words: "asset LQD cannot be sold short" (422, 42210000) and "asset ZZZZ is not tradable" (422) as paper accounts
logged them in public repositories; "account is not allowed to short" (403, 40310000: alpacahq/alpaca-trade-api-js
#57); the passing ones from the refusals llmtrade already names (brokers/alpaca_refusal_notes.py)."""

from __future__ import annotations

import json

import pytest

from llmtrade.brokers.alpaca_refusals import is_lasting


def _body(code: int, message: str) -> str:
    return json.dumps({"code": code, "message": message})


@pytest.mark.parametrize("opens", [True, False])
@pytest.mark.parametrize(
    ("status", "body", "lasting"),
    [
        (422, _body(42210000, "asset LQD cannot be sold short"), True),
        (422, _body(42210000, 'asset "XYZ" cannot be sold short'), True),
        (422, _body(42210000, "asset ZZZZ is not tradable"), True),
        (403, _body(40310000, "account is not allowed to short"), True),
        (422, _body(42210000, "asset XYZ is not shortable"), True),
        # Refusals that may pass later: resent as before.
        (403, _body(40310000, "insufficient buying power"), False),
        (403, _body(40310000, "insufficient qty available for order (requested: 10, available: 0)"), False),
        (403, _body(40310000, "potential wash trade detected. use complex orders"), False),
        (422, _body(42210000, "potential wash trade detected. use complex orders"), False),
        (403, _body(40310000, "cannot open a short sell while a long buy order is open"), False),
        (403, _body(40310100, "trade denied due to pattern day trading protection"), False),
        (403, _body(40310000, "account is not authorized to trade"), False),
        (403, '{"message": "forbidden."}', False),
        # Words not known, and the same words on a status Alpaca does not refuse them with: resent.
        (422, _body(40010001, "some new rule"), False),
        (400, _body(40010001, "asset XYZ is not tradable"), False),
    ],
)
def test_which_of_alpacas_refusals_last_the_week(status: int, body: str, lasting: bool, opens: bool) -> None:
    # "not tradable" lasts only for an opening order: a close refused so (a halt) is sent again, never left held.
    expected = lasting and (opens or "not tradable" not in body)
    assert is_lasting(status, body, opens=opens) is expected
