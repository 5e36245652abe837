"""The dollar budget (issue 16): the gateway refuses, before sending, the call that could pass a ceiling.

Real gateway, real OpenAI-compatible client over HTTP to the loopback fake, real event store."""

from __future__ import annotations

import asyncio
import shutil
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock
from llmtrade.config.loader import load_config
from llmtrade.config.models import ModelRef, ModelsConfig, Price
from llmtrade.config.sections import BudgetConfig
from llmtrade.domain.events import BudgetRefused, LLMCallCompleted, LLMCallFailed
from llmtrade.domain.weeks import week_id_for
from llmtrade.errors import BudgetExceeded
from llmtrade.fanout import gather_settled
from llmtrade.llm.budget import Budget, run_budget, week_spent
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage
from llmtrade.market.calendar import new_york_date
from llmtrade.reply_errors import LLMEmptyAnswer
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import Storage, open_storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes.committee_answers import committee_answer
from tests.fakes.llm_faults import Fault
from tests.fakes.openai_server import FakeOpenAIServer, completion_for
from tests.support import FIXED_NOW

PRICE = Price(input_per_mtok=1000.0, output_per_mtok=1000.0)  # $0.001 a token: small calls, visible sums
REF = ModelRef(model="m/pm", provider="fake", max_tokens=20)
SITE = CallSite(role="pm_pitch", run_id="run-1")
MESSAGES = (ChatMessage(role="user", content="Pitch."),)
DEFAULTS = Path(__file__).parents[1] / "src" / "llmtrade" / "config" / "defaults"


@pytest.fixture(scope="module")
def server() -> FakeOpenAIServer:
    with FakeOpenAIServer(latency=0.2) as running:
        yield running


def _gateway(storage: Storage, server: FakeOpenAIServer, budget: Budget, prices: dict | None = None) -> LLMGateway:
    client = OpenAICompatibleClient("fake", server.base_url, "k", max_retries=0)
    return LLMGateway(
        mode=LLMMode.LIVE,
        clients={"fake": client},
        prices={"m/pm": PRICE} if prices is None else prices,
        events=storage.events,
        cache=AnswerCache(storage.conn),
        budget=budget,
    )


def _worst(budget: Budget, gateway: LLMGateway) -> float:
    request = gateway._request(REF, MESSAGES, None)
    hold = budget.reserve_request("probe", request)
    assert hold is not None and not isinstance(hold, BudgetRefused)
    budget.settle(hold, 0.0)
    budget.run_spent = 0.0
    return hold.amount


def _ask(gateway: LLMGateway) -> object:
    return gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "x")


def test_the_call_that_could_pass_the_run_budget_is_refused_before_it_is_sent_and_recorded(
    storage: Storage, server: FakeOpenAIServer
) -> None:
    probe = Budget(BudgetConfig(per_run_usd=1.0), {"m/pm": PRICE})
    worst = _worst(probe, _gateway(storage, server, probe))
    # Room for the first call's worst case and a little more; the first call's real cost plus the
    # second's worst case does not fit.
    budget = Budget(BudgetConfig(per_run_usd=worst * 1.2), {"m/pm": PRICE})
    gateway = _gateway(storage, server, budget)
    server.reset()

    async def go() -> None:
        await _ask(gateway)
        with pytest.raises(BudgetExceeded, match="run budget"):
            await _ask(gateway)
        await gateway.aclose()

    asyncio.run(go())
    assert len(server.requests) == 1  # the second call never left the process
    [refused] = [BudgetRefused.from_event(e) for e in storage.events.read(type="BudgetRefused")]
    assert refused.budget == "run" and refused.role == "pm_pitch" and refused.worst_case_usd == pytest.approx(worst)
    [call] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert refused.spent_usd == pytest.approx(call.cost_usd)
    assert budget.run_spent <= budget.config.per_run_usd


def test_concurrent_calls_together_never_pass_the_budget(storage: Storage, server: FakeOpenAIServer) -> None:
    probe = Budget(BudgetConfig(per_run_usd=1.0), {"m/pm": PRICE})
    worst = _worst(probe, _gateway(storage, server, probe))
    budget = Budget(BudgetConfig(per_run_usd=worst * 2.5), {"m/pm": PRICE})
    gateway = _gateway(storage, server, budget)
    server.reset()

    async def go() -> list[object]:
        try:
            # Six at once, each sleeping 0.2 s at the server: without reservations all six would pass the check.
            return await asyncio.gather(*(_ask(gateway) for _ in range(6)), return_exceptions=True)
        finally:
            await gateway.aclose()

    results = asyncio.run(go())
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(server.requests) == 2 and len(refused) == 4
    spent = sum(c.cost_usd or 0 for c in map(LLMCallCompleted.from_event, storage.events.read(type="LLMCallCompleted")))
    assert spent <= worst * 2.5
    assert budget.reserved == 0.0  # every hold released once its call came back


def test_a_budget_refusal_stops_a_committee_instead_of_failing_one_member() -> None:
    async def member(n: int) -> int:
        if n == 1:
            raise BudgetExceeded("spent")
        return n

    with pytest.raises(BudgetExceeded):
        asyncio.run(gather_settled([0, 1, 2], [member(0), member(1), member(2)]))


def test_an_unpriced_model_is_refused_while_a_budget_is_set(storage: Storage, server: FakeOpenAIServer) -> None:
    gateway = _gateway(storage, server, Budget(BudgetConfig(per_week_usd=100.0), {}), prices={})
    server.reset()
    with pytest.raises(BudgetExceeded, match="no price"):
        asyncio.run(_ask(gateway))
    assert server.requests == []
    [refused] = [BudgetRefused.from_event(e) for e in storage.events.read(type="BudgetRefused")]
    assert refused.worst_case_usd is None and refused.budget == "week"


def test_the_week_budget_counts_what_earlier_runs_of_the_week_spent(storage: Storage, server: FakeOpenAIServer) -> None:
    free = _gateway(storage, server, Budget.unlimited())
    asyncio.run(_ask(free))
    [earlier] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    models = ModelsConfig.model_validate(
        {
            "providers": {"fake": {"base_url": server.base_url}},
            "pms": [
                {"id": "a", "model": "m/pm", "provider": "fake", "account": "acct_1"},
                {"id": "b", "model": "m/pm", "provider": "fake", "account": "acct_2"},
            ],
            "chairman": {"model": "m/pm", "provider": "fake", "account": "acct_5"},
            "research": [{"id": "A", "model": "m/pm", "provider": "fake"}],
            "prices": {"m/pm": PRICE.model_dump()},
            "budget": {"per_week_usd": (earlier.cost_usd or 0) * 1.5},
        }
    )
    budget = run_budget(models, storage.conn, storage.events.read()[0].occurred_at)
    assert budget.week_before == pytest.approx(earlier.cost_usd)
    with pytest.raises(BudgetExceeded, match="week budget"):
        asyncio.run(_ask(_gateway(storage, server, budget)))


def test_run_weekly_stops_cleanly_with_exit_1_when_its_budget_is_spent(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config"
    shutil.copytree(DEFAULTS, config)
    with (config / "models.yaml").open("a") as models:
        models.write("\nbudget: {per_run_usd: 0.12}\n")
    with FakeOpenAIServer(answer=committee_answer) as fake:
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
        monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "synthetic")
        result = CliRunner().invoke(app, ["--config", str(config), "run-weekly"])
        sent = len(fake.requests)
    assert result.exit_code == 1, result.output
    assert "budget" in result.output and "Traceback" not in result.output
    with open_storage(Settings(DATABASE_URL=cli_env["DATABASE_URL"]), FixedClock(FIXED_NOW)) as s:
        types = [e.type for e in s.events.read()]
        calls = [LLMCallCompleted.from_event(e) for e in s.events.read(type="LLMCallCompleted")]
        refusals = [BudgetRefused.from_event(e) for e in s.events.read(type="BudgetRefused")]
    assert "RunFailed" in types and "WeekCompleted" not in types
    assert refusals and all(r.budget == "run" for r in refusals)
    assert len(calls) == sent  # every request sent was recorded; none after the refusal
    assert sum(c.cost_usd or 0 for c in calls) <= 0.12


def test_a_dry_runs_live_calls_count_against_the_week_budget(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `run-weekly --dry-run` stores nothing, but its live calls are paid for and their answers cached (the real run
    # then reads them at no cost): their records were dropped with the draft, so per_week_usd never counted them.
    with FakeOpenAIServer(answer=committee_answer) as fake:
        monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
        monkeypatch.setenv("LLMTRADE_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("LLMTRADE_MARKET_PROVIDERS", "synthetic")
        result = CliRunner().invoke(app, ["run-weekly", "--dry-run"])
        sent = len(fake.requests)
    assert result.exit_code == 0, result.output
    with open_storage(Settings(DATABASE_URL=cli_env["DATABASE_URL"]), FixedClock(FIXED_NOW)) as s:
        types = {e.type for e in s.events.read()}
        calls = [LLMCallCompleted.from_event(e) for e in s.events.read(type="LLMCallCompleted")]
        spent = week_spent(s.conn, date(2026, 1, 7), load_config(None).config.models.prices)
    assert sent > 0 and len(calls) == sent and all(c.source == "live" for c in calls)
    assert types == {"LLMCallCompleted"}  # the dry run's paid calls alone: nothing else of it is stored
    assert spent > 0  # what run_budget starts the week's real runs from


def _no_usage(content: str | None = "An answer.", finish: str = "stop") -> object:
    """A 200 whose body has no `usage` (providers and gateways that drop it)."""

    def step(request: dict) -> Fault:
        body = completion_for(request)
        body.pop("usage", None)
        body["choices"][0]["message"]["content"] = content
        body["choices"][0]["finish_reason"] = finish
        return Fault(200, body)

    return step


def test_a_reply_with_no_usage_is_counted_at_its_worst_case_not_free(
    storage: Storage, server: FakeOpenAIServer
) -> None:
    """Seen in a trial: a provider that dropped `usage` made 19 calls cost $0.0000 to the budget, which never stopped
    them. An unknown cost settles at the worst case held, is recorded as unknown (not 0) with what was counted, and a
    later run's week budget counts it too."""
    probe = Budget(BudgetConfig(per_run_usd=1.0), {"m/pm": PRICE})
    worst = _worst(probe, _gateway(storage, server, probe))
    budget = Budget(BudgetConfig(per_run_usd=worst * 1.5, per_week_usd=100.0), {"m/pm": PRICE})
    gateway = _gateway(storage, server, budget)
    server.reset()
    server.then(_no_usage(), _no_usage(content=None))

    async def go() -> None:
        await _ask(gateway)
        with pytest.raises(BudgetExceeded, match="run budget"):  # $0 each, this second call would have been sent
            await _ask(gateway)
        await gateway.aclose()

    asyncio.run(go())
    assert len(server.requests) == 1
    assert budget.run_spent == pytest.approx(worst)
    [stored] = storage.events.read(type="LLMCallCompleted")
    call = LLMCallCompleted.from_event(stored)
    assert call.cost_usd is None and call.cost_counted_usd == pytest.approx(worst)
    assert gateway.totals.unpriced_calls == 1 and gateway.totals.cost_usd == pytest.approx(worst)  # as counted
    week = week_id_for(new_york_date(stored.occurred_at))
    assert week_spent(storage.conn, week, {"m/pm": PRICE}) == pytest.approx(worst)


def test_a_rejected_reply_with_no_usage_is_counted_at_its_worst_case(
    storage: Storage, server: FakeOpenAIServer
) -> None:
    probe = Budget(BudgetConfig(per_run_usd=1.0), {"m/pm": PRICE})
    worst = _worst(probe, _gateway(storage, server, probe))
    budget = Budget(BudgetConfig(per_run_usd=10.0), {"m/pm": PRICE})
    gateway = _gateway(storage, server, budget)
    server.reset()
    server.then(_no_usage(content=None))  # an empty answer: a failed call, billed, its usage unknown

    async def go() -> None:
        with pytest.raises(LLMEmptyAnswer):
            await _ask(gateway)
        await gateway.aclose()

    asyncio.run(go())
    assert budget.run_spent == pytest.approx(worst)
    [failed] = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
    assert failed.cost_usd is None and failed.cost_counted_usd == pytest.approx(worst)


def _usage_as(usage: dict) -> object:
    """A 200 whose `usage` is `usage` (an empty object, or only total_tokens: seen from gateways)."""

    def step(request: dict) -> Fault:
        body = completion_for(request)
        body["usage"] = usage
        return Fault(200, body)

    return step


@pytest.mark.parametrize("usage", [{}, {"total_tokens": 40}, {"prompt_tokens": 12}])
def test_a_usage_without_both_token_counts_is_counted_at_its_worst_case(storage: Storage, usage: dict) -> None:
    """Seen in review: only a `usage` that was not an object counted as unreported, so `"usage": {}` or one with only
    total_tokens was priced $0 (0 tokens). Input and output are priced apart, so without both counts (and no cost
    from the provider) the cost is unknown: the worst case held."""
    with FakeOpenAIServer() as server:  # its own: the module's may hold steps a refused call left unasked
        probe = Budget(BudgetConfig(per_run_usd=1.0), {"m/pm": PRICE})
        worst = _worst(probe, _gateway(storage, server, probe))
        budget = Budget(BudgetConfig(per_run_usd=10.0), {"m/pm": PRICE})
        gateway = _gateway(storage, server, budget)
        server.then(_usage_as(usage))

        async def go() -> None:
            await _ask(gateway)
            await gateway.aclose()

        asyncio.run(go())
    assert budget.run_spent == pytest.approx(worst)
    [call] = [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]
    assert call.cost_usd is None and call.cost_counted_usd == pytest.approx(worst)


def test_a_usage_with_the_providers_cost_alone_is_priced_at_that_cost(storage: Storage) -> None:
    with FakeOpenAIServer() as server:
        budget = Budget(BudgetConfig(per_run_usd=10.0), {"m/pm": PRICE})
        gateway = _gateway(storage, server, budget)
        server.then(_usage_as({"total_tokens": 40, "cost": 0.0123}))

        async def go() -> None:
            await _ask(gateway)
            await gateway.aclose()

        asyncio.run(go())
    assert budget.run_spent == pytest.approx(0.0123)
