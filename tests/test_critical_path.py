"""What keeps run-weekly near its critical path without loosening what it records: call records
written in batches off the event loop, stage events and a valuation's records in one transaction
each, opening prices asked once, answer schemas built ahead. Against the real event store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any

import pytest

from llmtrade.agents import schemas
from llmtrade.brokers.order_plan import client_order_id
from llmtrade.brokers.paper import PaperBroker
from llmtrade.brokers.reconcile_records import record_differences
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.config.models import ModelRef
from llmtrade.domain.account_events import AccountHalted
from llmtrade.domain.breaker import BreakerUpdated
from llmtrade.domain.checkpoints import AccountValued
from llmtrade.domain.committee import pitch_reply_schema
from llmtrade.domain.events import LLMCallCompleted, NewEvent, StageCompleted, StageFailed, StageStarted
from llmtrade.domain.streams import breaker_stream, fill_stream, run_stream, valuation_stream
from llmtrade.domain.trading import AccountSnapshot, Order, OrderFilled, QueuedOrderCanceled, Side
from llmtrade.errors import OperationalError, StageError
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.recorder import CacheEntry, Recorder
from llmtrade.llm.structured import strict_schema
from llmtrade.llm.types import ChatMessage
from llmtrade.market.calendar import TradingCalendar
from llmtrade.pipeline.context import PipelineContext
from llmtrade.pipeline.pipeline import Pipeline
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.llm_cache import AnswerCache, CachedAnswer
from llmtrade.workflows.desk import Desk
from llmtrade.workflows.valuation import value_account
from tests.fakes.llm_transport import BASE_URL, fake_llm
from tests.fakes.sinks import ListSink, SinkOver

WEEK = date(2026, 1, 7)
BEFORE_OPEN = datetime(2026, 1, 7, 13, 0, tzinfo=UTC)  # 08:00 New York
DURING = datetime(2026, 1, 7, 17, 0, tzinfo=UTC)  # 12:00 New York
AFTER_CLOSE = datetime(2026, 1, 7, 22, 0, tzinfo=UTC)  # 17:00 New York
CONFIG = load_config(None).config
ACCOUNT = CONFIG.accounts.accounts[0]


class Counting(SinkOver):
    """The real store, with every append call's batch kept (one call is one transaction)."""

    def __init__(self, events: EventStore):
        super().__init__(events)
        self.batches: list[list[str]] = []

    def append(self, events: Sequence[NewEvent], **kw: Any) -> object:
        self.batches.append([e.type for e in events])
        return super().append(events, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.events, name)


class Broken(ListSink):
    def append(self, events: Sequence[NewEvent], **kw: Any) -> object:
        raise OperationalError("the database went away")


class Slow(SinkOver):
    """The real store, each append a little slow (a batch is still being written when the next comes)."""

    def append(self, events: Sequence[NewEvent], **kw: Any) -> object:
        time.sleep(0.2)
        return super().append(events, **kw)


def _event(i: int) -> NewEvent:
    return NewEvent.of(StageStarted(stage=f"s{i}"), stream="run:recorder-test", run_id="recorder-test")


# ------------------------------------------------------------------ call records


def test_concurrent_records_are_stored_in_one_transaction_before_any_writer_returns(storage: Storage) -> None:
    sink = Counting(storage.events)
    recorder = Recorder(sink, None)
    seen: list[int] = []

    async def write(i: int) -> None:
        await recorder.write(_event(i))
        seen.append(len(storage.events.read_stream("run:recorder-test")))  # what is stored when write returns

    async def main() -> None:
        await asyncio.gather(*(write(i) for i in range(6)))

    asyncio.run(main())
    assert sink.batches == [["StageStarted"] * 6]
    assert seen == [6] * 6


def test_a_failed_write_raises_in_every_caller_and_the_next_write_is_tried_again(storage: Storage) -> None:
    recorder = Recorder(Broken(), None)

    async def main() -> list[BaseException | None]:
        return await asyncio.gather(*(recorder.write(_event(i)) for i in range(3)), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert [type(o) for o in outcomes] == [OperationalError] * 3
    recorder._events = storage.events  # the database is back
    asyncio.run(recorder.write(_event(9)))
    assert [e.payload["stage"] for e in storage.events.read_stream("run:recorder-test")] == ["s9"]


def test_a_caller_cancelled_while_its_record_is_written_does_not_lose_the_record(storage: Storage) -> None:
    recorder = Recorder(storage.events, None)

    async def main() -> None:
        task = asyncio.create_task(recorder.write(_event(1)))
        await asyncio.sleep(0)  # queued, its writer started
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert recorder._writer is not None
        await recorder._writer

    asyncio.run(main())
    assert len(storage.events.read_stream("run:recorder-test")) == 1


def test_concurrent_calls_are_each_recorded_and_cached_with_fewer_transactions_than_calls(storage: Storage) -> None:
    sink = Counting(storage.events)

    async def no_sleep(_: float) -> None:
        return None

    client = OpenAICompatibleClient("fake", BASE_URL, "k", sleep=no_sleep)
    gateway = LLMGateway(
        mode=LLMMode.LIVE, clients={"fake": client}, prices={}, events=sink, cache=AnswerCache(storage.conn)
    )
    ref = ModelRef(model="m/pm", provider="fake")

    async def one(i: int) -> str:
        site = CallSite(role="council_answer", run_id="run-rec", account_id=f"a{i}")
        messages = (ChatMessage(role="user", content=f"Question {i}."),)  # eight requests, eight cache keys
        return (await gateway.ask_text(ref, messages, site, rules=lambda r: "x")).value

    async def main() -> list[str]:
        return list(await asyncio.gather(*(one(i) for i in range(8))))

    with fake_llm(delay=0.02):
        answers = asyncio.run(main())
    calls = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert len(answers) == len(calls) == 8
    assert sorted(c.answer for c in calls) == sorted(answers)
    assert 1 <= len(sink.batches) < 8  # the replies that came together went in one transaction
    cached = storage.conn.execute("SELECT count(*) FROM llm_cache").fetchone()
    assert cached is not None and cached[0] == 8


# ------------------------------------------------------------------ stage events


class Step:
    reads = ()
    writes = ()
    overlaps = False

    def __init__(self, name: str, fail: bool = False):
        self.name = name
        self.fail = fail

    async def run(self, context: PipelineContext) -> PipelineContext:
        if self.fail:
            raise OperationalError(f"{self.name} broke")
        return context


def test_a_stage_completed_goes_in_one_transaction_with_the_next_stage_started(storage: Storage) -> None:
    sink = Counting(storage.events)
    asyncio.run(Pipeline([Step("a"), Step("b"), Step("c")], sink).run(PipelineContext(run_id="r-st")))
    assert sink.batches == [
        ["StageStarted"],
        ["StageCompleted", "StageStarted"],
        ["StageCompleted", "StageStarted"],
        ["StageCompleted"],
    ]
    stored = storage.events.read_stream(run_stream("r-st"))
    assert [(e.type, e.payload["stage"]) for e in stored] == [
        (StageStarted.event_type(), "a"),
        (StageCompleted.event_type(), "a"),
        (StageStarted.event_type(), "b"),
        (StageCompleted.event_type(), "b"),
        (StageStarted.event_type(), "c"),
        (StageCompleted.event_type(), "c"),
    ]


def test_a_failing_stage_is_recorded_after_the_completion_of_the_one_before(storage: Storage) -> None:
    with pytest.raises(StageError):
        asyncio.run(Pipeline([Step("a"), Step("b", fail=True)], storage.events).run(PipelineContext(run_id="r-f")))
    stored = storage.events.read_stream(run_stream("r-f"))
    assert [e.type for e in stored] == [
        StageStarted.event_type(),
        StageCompleted.event_type(),
        StageStarted.event_type(),
        StageFailed.event_type(),
    ]


# ------------------------------------------------------------------ valuations


class Opens:
    def __init__(self, prices: dict[tuple[str, date], float | None]):
        self.prices = prices
        self.asked: list[tuple[str, date]] = []

    def opening_price(self, symbol: str, day: date) -> float | None:
        self.asked.append((symbol, day))
        return self.prices.get((symbol, day))


def _desk(storage: Storage, clock: FixedClock, opens: Opens) -> Desk:
    broker = PaperBroker(
        ACCOUNT.id,
        starting_cash=ACCOUNT.starting_cash,
        events=storage.events,
        clock=clock,
        calendar=TradingCalendar(),
        prices=opens,
    )
    return Desk(ACCOUNT, broker)


def _buy(symbol: str, qty: int) -> Order:
    return Order(
        client_order_id=client_order_id(WEEK, ACCOUNT.id, symbol, "open"),
        account_id=ACCOUNT.id,
        week_id=WEEK,
        symbol=symbol,
        side=Side.BUY,
        qty=qty,
        intent="open",
    )


def _snapshot(equity: float) -> AccountSnapshot:
    return AccountSnapshot(account_id=ACCOUNT.id, cash=equity, equity=equity, buying_power=equity, positions={})


def _count(storage: Storage, stream: str, payload: type) -> int:
    return sum(1 for e in storage.events.read_stream(stream) if e.type == payload.event_type())


def test_a_valuation_writes_its_fill_value_and_breaker_change_in_one_transaction(storage: Storage) -> None:
    opens = Opens({("TLT", WEEK): 90.0})
    _desk(storage, FixedClock(BEFORE_OPEN), opens).broker.submit(_buy("TLT", 10))  # queued for the open
    desk = _desk(storage, FixedClock(DURING), opens)  # the open has passed: the order filled
    sink = Counting(storage.events)
    drawdown = ACCOUNT.starting_cash * 0.7  # past the 20% halt
    value_account(sink, desk, _snapshot(drawdown), CONFIG, occasion="week start", week_id=WEEK, run_id="r1")  # type: ignore[arg-type]
    assert sink.batches == [["OrderFilled", "AccountValued", "BreakerUpdated", "AccountHalted"]]
    order = _buy("TLT", 10).client_order_id
    assert _count(storage, fill_stream(ACCOUNT.id, order), OrderFilled) == 1
    assert _count(storage, valuation_stream(ACCOUNT.id, WEEK, "week start"), AccountValued) == 1
    assert _count(storage, breaker_stream(ACCOUNT.id), AccountHalted) == 1


def test_a_rerun_finding_its_valuation_stored_writes_each_record_once_the_careful_way(storage: Storage) -> None:
    opens = Opens({("TLT", WEEK): 90.0, ("GLD", date(2026, 1, 8)): 200.0})
    early = _desk(storage, FixedClock(BEFORE_OPEN), opens)
    early.broker.submit(_buy("TLT", 10))  # fills at today's open
    value_account(
        storage.events,
        early,
        _snapshot(ACCOUNT.starting_cash),
        CONFIG,
        occasion="week start",
        week_id=WEEK,
        run_id="r1",
    )
    later = _desk(storage, FixedClock(AFTER_CLOSE), opens)
    later.broker.submit(_buy("GLD", 1))  # queued for tomorrow's open: an opening order a halt cancels
    sink = Counting(storage.events)
    drawdown = ACCOUNT.starting_cash * 0.7
    for run in ("r2", "r3"):  # the rerun, then one more: nothing is written twice
        value_account(sink, later, _snapshot(drawdown), CONFIG, occasion="week start", week_id=WEEK, run_id=run)  # type: ignore[arg-type]
    assert sink.batches[0] == ["OrderFilled", "AccountValued", "BreakerUpdated", "AccountHalted"]  # refused whole
    valued = storage.events.read_stream(valuation_stream(ACCOUNT.id, WEEK, "week start"))
    assert [AccountValued.from_event(e).equity for e in valued] == [ACCOUNT.starting_cash]  # the first stands
    assert _count(storage, fill_stream(ACCOUNT.id, _buy("TLT", 10).client_order_id), OrderFilled) == 1
    assert _count(storage, breaker_stream(ACCOUNT.id), AccountHalted) == 1
    assert _count(storage, breaker_stream(ACCOUNT.id), BreakerUpdated) == 1  # the halt (the first look changed nothing)
    # The halt's cancel is on the order's own write-once stream, where an end is recorded once whoever records it.
    assert _count(storage, fill_stream(ACCOUNT.id, _buy("GLD", 1).client_order_id), QueuedOrderCanceled) == 1


# ------------------------------------------------------------------ prices and schemas


def test_the_paper_broker_asks_a_sessions_opening_price_once_and_an_unknown_one_again(storage: Storage) -> None:
    opens = Opens({("TLT", WEEK): 90.0})
    _desk(storage, FixedClock(BEFORE_OPEN), opens).broker.submit(_buy("TLT", 10))
    _desk(storage, FixedClock(BEFORE_OPEN), opens).broker.submit(_buy("GLD", 1))  # no price for it yet
    broker = _desk(storage, FixedClock(DURING), opens).broker
    opens.asked.clear()
    for _ in range(3):
        broker.fills()
        broker.open_orders()
    assert opens.asked.count(("TLT", WEEK)) == 1
    assert opens.asked.count(("GLD", WEEK)) == 6  # unknown: every look asks again
    opens.prices[("GLD", WEEK)] = 200.0
    assert {f.symbol: f.price for f in broker.fills()}["GLD"] == pytest.approx(200.0 * 1.0005)


def test_the_weekly_answer_schemas_built_ahead_are_the_ones_the_roles_use() -> None:
    symbols = ["SPY", "TLT", "ZZZA"]  # a universe no other test builds
    schemas.warm_up(symbols).join(timeout=30)
    before = strict_schema.cache_info()
    schema = strict_schema(pitch_reply_schema(symbols))
    after = strict_schema.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (1, 0)
    assert schema["properties"]["instrument"]["enum"] == symbols


def test_a_recorder_serves_one_event_loop_after_another(storage: Storage) -> None:
    recorder = Recorder(Slow(storage.events), None)

    async def abandoned() -> None:
        first = asyncio.create_task(recorder.write(_event(0)))
        await asyncio.sleep(0.05)  # its batch is being written
        second = asyncio.create_task(recorder.write(_event(1)))  # queued behind it
        await asyncio.sleep(0)
        first.cancel()
        second.cancel()  # the run ends now: asyncio.run cancels the writer in the middle of its work

    asyncio.run(abandoned())
    asyncio.run(asyncio.wait_for(recorder.write(_event(2)), timeout=10))  # the next job's loop, same gateway
    stored = [e.payload["stage"] for e in storage.events.read_stream("run:recorder-test")]
    assert sorted(stored) == ["s0", "s1", "s2"]  # the record left queued is written too


class Reads:
    """The real store, counting reads."""

    def __init__(self, events: EventStore):
        self.events = events
        self.reads = 0

    def read(self, **kw: Any) -> Any:
        self.reads += 1
        return self.events.read(**kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.events, name)


def test_an_account_without_differences_costs_no_read_of_the_recorded_ones(storage: Storage) -> None:
    store = Reads(storage.events)
    appended = record_differences(store, ACCOUNT.id, [], occasion="week start", week_id=WEEK, run_id="r1")  # type: ignore[arg-type]
    assert (appended, store.reads) == ([], 0)


def test_an_answer_is_not_cached_when_its_calls_record_could_not_be_stored(storage: Storage) -> None:
    recorder = Recorder(Broken(), AnswerCache(storage.conn))
    entry = CacheEntry("k1", "m/pm", CachedAnswer("answer", 1, 1, None))
    with pytest.raises(OperationalError):
        asyncio.run(recorder.write(_event(1), entry))
    assert AnswerCache(storage.conn).get("k1") is None  # one transaction: neither the record nor the answer
    asyncio.run(Recorder(storage.events, AnswerCache(storage.conn)).write(_event(2), entry))
    assert AnswerCache(storage.conn).get("k1") == CachedAnswer("answer", 1, 1, None)
