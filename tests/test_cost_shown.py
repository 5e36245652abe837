"""Every place that shows what model calls cost counts what the budget counts (trial L, defects 5 and 2).

`trace` and `status` summed only LLMCallCompleted, while a failed call a reply came back to (a truncated answer, an
empty one) was billed and priced by the budget: a run's footer said $0.1532, trace $0.0032. A reply with no usage has
an unknown cost, said as such. Real gateway and client over HTTP to the loopback fake, real event store.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.app.queries import usage
from llmtrade.cli import app
from llmtrade.config.models import ModelRef, Price
from llmtrade.config.sections import BudgetConfig
from llmtrade.errors import LLMRequestRejected
from llmtrade.llm.budget import Budget
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage
from llmtrade.observe.timeline import trace_run
from llmtrade.reply_errors import LLMEmptyAnswer
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes.committee_answers import committee_answer
from tests.fakes.llm_faults import Fault
from tests.fakes.llm_transport import FakeLLM
from tests.fakes.openai_server import FakeOpenAIServer, completion_for

runner = CliRunner()


PRICE = Price(input_per_mtok=1000.0, output_per_mtok=1000.0)
REF = ModelRef(model="m/pm", provider="fake", max_tokens=50)
SITE = CallSite(role="pm_pitch", run_id="run-cost")
MESSAGES = (ChatMessage(role="user", content="Pitch."),)
CALLS = ["LLMCallCompleted", "LLMCallFailed"]


def _empty_billed(request: dict[str, Any]) -> Fault:
    body = completion_for(request)
    body["choices"][0]["message"]["content"] = None
    body["usage"] = {"prompt_tokens": 1379, "completion_tokens": 8000, "total_tokens": 9379}
    return Fault(200, body)


def _no_usage(request: dict[str, Any]) -> Fault:
    body = completion_for(request)
    body.pop("usage", None)
    return Fault(200, body)


def _gateway(storage: Storage, server: FakeOpenAIServer, budget: Budget) -> LLMGateway:
    return LLMGateway(
        mode=LLMMode.LIVE,
        clients={"fake": OpenAICompatibleClient("fake", server.base_url, "k", max_retries=0)},
        prices={"m/pm": PRICE},
        events=storage.events,
        cache=AnswerCache(storage.conn),
        budget=budget,
    )


def _gpt_pitch_empty(body: dict[str, Any]) -> Fault:
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
    if body["model"] == "openai/gpt-5.1" and schema == "PitchAnswer":
        return _empty_billed(body)
    return Fault(200, committee_answer(body))


def test_trace_and_status_count_the_billed_failed_calls_the_run_counted(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live.behaviour = _gpt_pitch_empty  # an empty answer, and its repair: 1379+8000 tokens each, billed
    ran = runner.invoke(app, ["run-weekly", "--json"])
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.stdout)
    spent = report["usage"]["cost_usd"]
    assert spent > 2 * 8000 * 10.0 / 1e6  # gpt's two empty answers at $10 per million output tokens are in it
    status = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert status["usage"]["this_week"]["cost_usd"] == pytest.approx(spent, abs=1e-5)
    assert status["usage"]["this_week"]["failed_calls"] == 2
    trace = json.loads(runner.invoke(app, ["trace", report["run_id"], "--json"]).stdout)
    assert trace["cost_usd"] == pytest.approx(spent, abs=1e-5)


def test_trace_and_status_say_when_a_calls_cost_is_unknown(storage: Storage) -> None:
    with FakeOpenAIServer() as server:
        server.then(_no_usage)
        gateway = _gateway(storage, server, Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE}))

        async def go() -> None:
            await gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "x")
            await gateway.aclose()

        asyncio.run(go())
    assert usage(storage.events.read(type=CALLS)).unknown_cost_calls == 1
    assert trace_run(storage.events, SITE.run_id).unknown_cost_calls == 1


def _empty_no_usage(request: dict[str, Any]) -> Fault:
    body = completion_for(request)
    body.pop("usage", None)
    body["choices"][0]["message"]["content"] = None
    return Fault(200, body)


def _refused(request: dict[str, Any]) -> Fault:
    return Fault(401, {"error": {"message": "bad key", "code": 401}})


def test_status_trace_and_the_report_count_every_call_the_budget_counted_alike(storage: Storage) -> None:
    """Seen in review: a failed reply with no usage (only cost_counted_usd) was dropped by status (0 failed calls, $0)
    while trace said 1 call of unknown cost and the budget counted its worst case. Status, trace, the report's week
    cost and the run's totals now count the same calls at what the budget counted; a refusal (no reply) costs
    nothing anywhere."""
    from llmtrade.app.report_week_costs import week_cost

    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    with FakeOpenAIServer() as server:
        server.then(_empty_no_usage, _empty_billed, _refused, _no_usage)
        gateway = _gateway(storage, server, budget)

        async def go() -> None:
            for failure in (LLMEmptyAnswer, LLMEmptyAnswer, LLMRequestRejected):  # no usage, billed, no reply
                with pytest.raises(failure):
                    await gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "x")
            await gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "x")  # no usage: unknown
            await gateway.aclose()

        asyncio.run(go())
    records = storage.events.read(type=CALLS)
    status = usage(records)
    trace = trace_run(storage.events, SITE.run_id)
    week = week_cost(
        [e for e in records if e.type == "LLMCallCompleted"], [e for e in records if e.type == "LLMCallFailed"]
    )
    assert budget.run_spent > 0
    assert status.cost_usd == pytest.approx(budget.run_spent, abs=1e-6)
    assert trace.cost_usd == pytest.approx(budget.run_spent, abs=1e-6)
    assert week.cost_usd == pytest.approx(budget.run_spent, abs=1e-6)
    assert gateway.totals.cost_usd == pytest.approx(budget.run_spent, abs=1e-6)  # the run's footer
    assert status.failed_calls == week.failed_calls == 2  # the refusal (no reply, $0) is not a billed call
    assert status.unknown_cost_calls == week.unpriced_calls == trace.unknown_cost_calls == 2


def test_a_billed_failed_reply_without_usage_is_said_unknown_with_no_budget_set(storage: Storage) -> None:
    """Review G2 (D4): with no budget set, an empty answer with no usage (billed) was recorded with cost None, nothing
    counted and 0 tokens: status, trace and the report neither counted it nor said 'cost unknown' (the footer did).
    The record now says a reply came back (billed), and every view says its cost is unknown."""
    from llmtrade.domain.call_costs import budget_counted, cost_unknown

    with FakeOpenAIServer() as server:
        server.then(_empty_no_usage)
        gateway = _gateway(storage, server, Budget.unlimited())

        async def go() -> None:
            with pytest.raises(LLMEmptyAnswer):
                await gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "x")
            await gateway.aclose()

        asyncio.run(go())
    [stored] = storage.events.read(type="LLMCallFailed")
    assert gateway.totals.unpriced_calls == 1
    assert cost_unknown(stored.payload) and budget_counted(stored.payload)
    assert usage(storage.events.read(type=CALLS)).unknown_cost_calls == 1
    assert trace_run(storage.events, SITE.run_id).unknown_cost_calls == 1
