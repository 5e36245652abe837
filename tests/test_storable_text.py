"""Text PostgreSQL cannot store, from anywhere: a NUL (jsonb refuses JSON's \\u0000, "unsupported Unicode escape
sequence"; text refuses the byte) or a lone UTF-16 surrogate (no UTF-8 for it). It came in a market data value, a
broker's error message, an exception's words: the event recording it failed with a database error, the run's record
was lost, and a RunFailed that could not be written hid the error it was recording. Every connection now stores each
such character as U+FFFD (storage/storable_text.py); a sole writer's copy in memory is what a read gives back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.cli import app
from llmtrade.domain.events import NewEvent
from llmtrade.domain.market import Bar
from llmtrade.domain.runs import RunFailed
from llmtrade.domain.trading import Order, Side
from llmtrade.market.synthetic import SyntheticMarket
from llmtrade.storage.bar_cache import BarCache
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.connection import connect
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.execution import _send
from tests.fakes.alpaca_server import FakeAlpacaServer
from tests.support import FIXED_NOW, FixedClock, stored_events

MARK = "\ufffd"
# What a payload may hold, and what is stored of it: NUL and lone surrogates marked, the rest as it was (an emoji,
# written as a surrogate pair by json.dumps, which jsonb takes; a backslash and "u0000" written out, which is text).
PAYLOAD: dict[str, Any] = {
    "error": "SPY\x00 unknown",
    "name\x00": ["split \ud83d emoji", "whole \U0001f4c8", {"deep": "a\udc00b"}],
    "said": "a \\u0000 written out",
}
STORED: dict[str, Any] = {
    "error": f"SPY{MARK} unknown",
    f"name{MARK}": [f"split {MARK} emoji", "whole \U0001f4c8", {"deep": f"a{MARK}b"}],
    "said": "a \\u0000 written out",
}


def _event(payload: dict[str, Any], stream: str = "probe") -> NewEvent:
    return NewEvent(type="Probe", stream=stream, payload=payload, account_id="acct_1", run_id="r1")


def _read_anew(url: str) -> list[dict[str, Any]]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT payload FROM events ORDER BY id")]


@pytest.mark.parametrize("batch", [1, 2, 3], ids=["one", "one stream", "two streams"])
def test_an_event_holding_nul_or_a_lone_surrogate_is_stored_marked(
    storage: Storage, database_url: str, batch: int
) -> None:
    events = [_event(PAYLOAD, stream="probe" if i < 2 else "other") for i in range(batch)]
    stored = storage.events.append(events)
    assert [e.payload for e in stored] == [STORED] * batch
    assert _read_anew(database_url) == [STORED] * batch


def test_an_event_holding_one_inside_a_callers_transaction_is_stored_marked(
    storage: Storage, database_url: str
) -> None:
    with storage.conn.transaction():
        stored = storage.events.append([_event(PAYLOAD), _event(PAYLOAD)])
    assert [e.payload for e in stored] == [STORED, STORED]
    assert _read_anew(database_url) == [STORED, STORED]


def test_a_sole_writers_copy_in_memory_is_what_a_read_gives_back(database_url: str) -> None:
    conn = connect(database_url)
    try:
        store = EventStore(conn, FixedClock(FIXED_NOW), exclusive=True)
        held = store.append([_event(PAYLOAD)]) + store.append([_event({"plain": "x"}), _event(PAYLOAD, "other")])
        assert held[0].payload == STORED and held[2].payload == STORED
        assert store.read(stream="probe")[0].payload == STORED  # from memory, before the flush
        store.flush()
        assert _read_anew(database_url) == [e.payload for e in held]
        fresh = EventStore(conn, FixedClock(FIXED_NOW))
        assert fresh.read() == held
    finally:
        conn.close()


def test_text_columns_store_it_marked(storage: Storage) -> None:
    """A bar's text fields go in by binary COPY (the bar cache), a parameter by the default dumper."""
    bar = Bar(symbol="SPY", day=date(2026, 1, 5), open=1, high=2, low=0.5, close=1.5, volume=10, source="csv\x00x")
    BarCache(storage.conn).store({"SPY": [bar]}, bar.day, bar.day, provider="csv", synthetic=False)
    assert storage.conn.execute("SELECT source FROM market_bars").fetchall() == [(f"csv{MARK}x",)]
    # A parameter sent as text and as binary, a lone surrogate in an array's item.
    row = storage.conn.execute("SELECT %s::text, %b::text, %s::text[]", ("a\x00", "b\x00", ["c\ud800"])).fetchone()
    assert row == (f"a{MARK}", f"b{MARK}", [f"c{MARK}"])


# A market data value: the symbol name (or the words) a provider gave, said in the error of a failed run.
def test_a_run_failing_on_market_data_holding_nul_is_recorded_and_said(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmtrade.errors import MarketDataError

    def failing(self: SyntheticMarket, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        raise MarketDataError("the provider knows no symbol 'SPY\x00X' (HTTP 404)")

    monkeypatch.setattr(SyntheticMarket, "daily_bars", failing)
    result = CliRunner().invoke(app, ["run-weekly", "--offline"])
    assert result.exit_code != 0, result.output
    said = result.stderr
    assert "the provider knows no symbol 'SPY" in said and "X' (HTTP 404)" in said, said  # the error itself
    assert "Unicode" not in said and "NUL" not in said, said  # not the database's
    failed = [RunFailed.model_validate(e.payload) for e in stored_events(wednesday_week, type="RunFailed")]
    assert len(failed) == 1
    assert f"the provider knows no symbol 'SPY{MARK}X' (HTTP 404)" in failed[0].error


# An exception's words, as a bug or a library raised them.
def test_a_run_failing_with_an_exception_holding_nul_is_recorded_and_said(
    wednesday_week: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(self: SyntheticMarket, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        raise RuntimeError("bad\x00 value \ud800 here")

    monkeypatch.setattr(SyntheticMarket, "daily_bars", failing)
    result = CliRunner().invoke(app, ["run-weekly", "--offline"])
    assert result.exit_code == 1, result.output
    assert "bad" in result.stderr and "value" in result.stderr and "Unicode" not in result.stderr, result.stderr
    failed = [RunFailed.model_validate(e.payload) for e in stored_events(wednesday_week, type="RunFailed")]
    assert len(failed) == 1
    assert f"bad{MARK} value {MARK} here" in failed[0].error
    (stage,) = stored_events(wednesday_week, type="StageFailed")
    assert stage.payload["error_type"] == "RuntimeError"
    assert f"bad{MARK} value {MARK} here" in stage.payload["error"]


@pytest.fixture
def alpaca() -> Iterator[FakeAlpacaServer]:
    with FakeAlpacaServer(key_id="k", secret_key="s") as fake:
        yield fake


def test_a_broker_refusal_holding_nul_is_recorded_with_its_words(alpaca: FakeAlpacaServer, storage: Storage) -> None:
    """Alpaca's error body is JSON: its message's \\u0000 reaches alpaca-py's exception as a NUL."""
    alpaca.set_price("SPY", 600)
    alpaca.refuse_next_order(422, 42210000, "order\x00 refused: bad field")
    broker = AlpacaBroker("pm-alpha", "k", "s", url_override=alpaca.base_url, timeout_seconds=2)
    order = Order(
        client_order_id="w2026-01-05-pm-alpha-SPY-open",
        account_id="pm-alpha",
        week_id=date(2026, 1, 5),
        symbol="SPY",
        side=Side.BUY,
        qty=1,
        intent="open",
    )
    rejected = _send(broker, order)
    assert "\x00" in rejected.reason  # as Alpaca said it
    (stored,) = storage.events.append([NewEvent.of(rejected, stream="orders", account_id="pm-alpha")])
    reason = storage.events.read(stream="orders")[0].payload["reason"]
    assert f"order{MARK} refused: bad field" in reason
    assert stored.payload["reason"] == reason
