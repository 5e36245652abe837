"""A call cancelled while its failure is being recorded (review J): the attempts it was billed for still count, and
it stays cancelled. The gateway's record of a failed call is an await on the store; a cancellation arriving in it
(SIGTERM through the job loop, a sibling failing in a gather) came without the client's tally of billed attempts, so
the budget settled the call at $0, and a store error raised there replaced the cancellation itself."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

from llmtrade.config.models import ModelRef, Price
from llmtrade.config.sections import BudgetConfig
from llmtrade.domain.events import LLMCallFailed
from llmtrade.errors import LlmtradeError, LLMUnavailable, StructuredOutputRefused
from llmtrade.llm.budget import Budget
from llmtrade.llm.call_records import BilledAttempts
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.types import ChatMessage
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache

PRICE = Price(input_per_mtok=1000.0, output_per_mtok=1000.0)
REF = ModelRef(model="m/pm", provider="fake", max_tokens=50)
SITE = CallSite(role="pm_pitch", run_id="run-cancel")
MESSAGES = (ChatMessage(role="user", content="Pitch."),)


class _Out(BaseModel):
    x: int


class _Fails:
    """A provider client whose call ends in `error`, two attempts cut off after their 200 (as the real client tallies
    them on its typed errors)."""

    name = "fake"
    structured_outputs = True
    answer_settings = ""

    def __init__(self, error: Callable[[], LlmtradeError]) -> None:
        self._error = error

    async def send(self, request: Any, *, before_attempt: Any = None) -> Any:
        await before_attempt(BilledAttempts())
        raise self._error()

    async def aclose(self) -> None:
        pass


class _Hangs(_Fails):
    """Hangs until cancelled, one attempt cut off after its 200 by then (the real client's tally on a cancellation)."""

    async def send(self, request: Any, *, before_attempt: Any = None) -> Any:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError as cancelled:
            cancelled.cut_off, cancelled.billed, cancelled.attempts = 1, (), 1  # type: ignore[attr-defined]
            raise


def _cut_twice(kind: type[LlmtradeError]) -> Callable[[], LlmtradeError]:
    def made() -> LlmtradeError:
        error = kind("the provider went away")
        error.cut_off, error.attempts = 2, 3  # type: ignore[attr-defined]
        return error

    return made


def _gateway(storage: Storage, client: _Fails, budget: Budget) -> LLMGateway:
    return LLMGateway(
        mode=LLMMode.LIVE,
        clients={"fake": client},  # type: ignore[dict-item]
        prices={"m/pm": PRICE},
        events=storage.events,
        cache=AnswerCache(storage.conn),
        budget=budget,
    )


def _slow_store(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real store, each append taking 0.4 s: a cancellation lands while a record is written."""
    append = storage.events.append

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.4)
        return append(*args, **kwargs)

    monkeypatch.setattr(storage.events, "append", slow)


def _cancel_during(ask: Callable[[], Any]) -> asyncio.Task[Any]:
    async def go() -> asyncio.Task[Any]:
        task = asyncio.create_task(ask())
        await asyncio.sleep(0.1)
        task.cancel()
        with contextlib.suppress(BaseException):  # which one it ended in is what the tests check
            await task
        await asyncio.sleep(0.6)  # the record's write, off the loop, finishes
        return task

    return asyncio.run(go())


@pytest.mark.parametrize("kind", ["unavailable", "format refused"])
def test_a_cancellation_while_the_failure_is_recorded_still_counts_the_billed_attempts(
    storage: Storage, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    error = LLMUnavailable if kind == "unavailable" else StructuredOutputRefused
    gateway = _gateway(storage, _Fails(_cut_twice(error)), budget)
    _slow_store(storage, monkeypatch)
    if kind == "unavailable":
        task = _cancel_during(lambda: gateway.ask_text(REF, MESSAGES, SITE, rules=lambda _: "x"))
    else:
        task = _cancel_during(lambda: gateway.ask(REF, MESSAGES, site=SITE, output=_Out, rules=lambda _: _Out(x=1)))
    assert task.cancelled()
    assert budget.reserved == 0.0
    assert budget.run_spent > 0  # two attempts cut off after their 200: billed, counted at their worst case
    if kind == "unavailable":
        [stored] = storage.events.read(type="LLMCallFailed")
        assert LLMCallFailed.from_event(stored).cost_counted_usd == pytest.approx(budget.run_spent)


def test_a_store_failing_as_a_cancelled_call_is_recorded_leaves_it_cancelled_and_counted(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    gateway = _gateway(storage, _Hangs(_cut_twice(LLMUnavailable)), budget)

    def down(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the store is down")

    monkeypatch.setattr(storage.events, "append", down)
    task = _cancel_during(lambda: gateway.ask_text(REF, MESSAGES, SITE, rules=lambda _: "x"))
    assert task.cancelled()  # not turned into the store's error
    assert budget.run_spent > 0 and budget.reserved == 0.0
