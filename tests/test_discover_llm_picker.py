"""The LLM picker never yields a symbol outside the candidates: names resolve to tickers or are dropped."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, date, datetime

import pytest

from llmtrade.agents import picker
from llmtrade.config.models import ModelRef, Price
from llmtrade.domain.discovery import CandidateFeatures, PickerPick, picker_reply_schema
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.structured import strict_schema
from llmtrade.prompts.renderer import PromptRenderer
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes import llm_faults as f
from tests.fakes.openai_server import FakeOpenAIServer
from tests.fakes.random_instances import random_instance

REF = ModelRef(model="m/picker", provider="fake", max_tokens=1000)
SITE = CallSite(role="picker", run_id="run-1")
NAMES = {
    "AAPL": "Apple Inc.",
    "MSFT": "Microsoft Corporation",
    "SPY": "SPDR S&P 500 ETF",
    "BRK.B": "Berkshire Hathaway",
}


def _candidates() -> list[CandidateFeatures]:
    return [
        CandidateFeatures(
            symbol=s,
            name=n,
            asset_class="equity",
            sessions=100,
            price=100.0,
            avg_volume=2e6 + i,
            spread=0.001,
            volatility=0.2,
            momentum=0.01 * i,
        )
        for i, (s, n) in enumerate(NAMES.items())
    ]


def _pick(storage: Storage, base_url: str, prices: dict[str, Price] | None = None) -> picker.Picks:
    client = OpenAICompatibleClient("fake", base_url, "k")
    gateway = LLMGateway(
        mode=LLMMode.LIVE,
        clients={"fake": client},
        prices=prices or {},
        events=storage.events,
        cache=AnswerCache(storage.conn),
    )

    async def go() -> picker.Picks:
        try:
            return await picker.pick(
                gateway,
                PromptRenderer(),
                REF,
                _candidates(),
                condition="SPY flat",
                asof=datetime(2026, 1, 7, 13, tzinfo=UTC),
                session=date(2026, 1, 6),
                most=6,
                site=SITE,
            )
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_names_from_a_provider_without_strict_mode_resolve_to_candidates_or_are_dropped(storage: Storage) -> None:
    reply = {
        "market_view": "Quiet.",
        "picks": [
            {"symbol": "Apple Inc", "reason": "a name, not a ticker"},
            {"symbol": "msft", "reason": "lower case"},
            {"symbol": "Zzyzx Holdings", "reason": "not a candidate"},
            {"symbol": "AAPL", "reason": "again"},
            {"symbol": "NVDA", "reason": "a real ticker, but not a candidate"},
            {"symbol": "brk.b", "reason": "dotted ticker"},
        ],
    }
    with FakeOpenAIServer() as server:
        server.then(f.answer(json.dumps(reply)))
        picks = _pick(storage, server.base_url)
        sent = json.dumps(server.requests[-1])
    assert [s for s, _ in picks.picks] == ["AAPL", "MSFT", "BRK.B"]
    assert picks.picks[0][1] == "a name, not a ticker"  # the first mention's reason
    assert picks.dropped == ["Zzyzx Holdings", "NVDA"]
    assert '"enum": ["AAPL", "MSFT", "SPY", "BRK.B"]' in sent  # the schema the model saw lists only candidates


def test_random_answers_never_resolve_outside_the_candidates() -> None:
    candidates = _candidates()
    schema = strict_schema(picker_reply_schema([c.symbol for c in candidates], 5))
    noise = ["Apple", "Microsoft Corp", "S&P 500", "Tesla", "QQQ", "", "  spy  ", "Berkshire"]
    for seed in range(200):
        rng = random.Random(seed)
        reply = random_instance(schema, rng)
        extra = [PickerPick(symbol=rng.choice(noise), reason="noise") for _ in range(3)]
        picks, dropped = picker.resolve([PickerPick(**p) for p in reply["picks"]] + extra, candidates)
        symbols = [s for s, _ in picks]
        assert set(symbols) <= set(NAMES) and len(symbols) == len(set(symbols))
        assert len(picks) + len(dropped) <= len(reply["picks"]) + 3


def test_the_offline_rules_pick_liquid_candidates_by_risk_adjusted_momentum() -> None:
    candidates = _candidates()
    schema = picker_reply_schema([c.symbol for c in candidates], 2)
    reply = picker.offline_picks(schema, candidates, 2, random.Random(0))
    assert [p.symbol for p in reply.picks] == ["BRK.B", "SPY"]  # highest momentum at equal volatility


PRICE = Price(input_per_mtok=3.0, output_per_mtok=15.0)


def _billed(storage: Storage) -> tuple[int, float]:
    """How many calls the picker made, and what their tokens cost at PRICE, from the calls' own records."""
    calls = [e.payload for e in storage.events.read(type=["LLMCallCompleted", "LLMCallFailed"])]
    cost = sum(c["prompt_tokens"] * 3.0 + c["completion_tokens"] * 15.0 for c in calls) / 1e6
    return len(calls), cost


@pytest.mark.parametrize(
    "first", [f.truncated(0.5), f.answer('{"market_view": "Quiet.", "picks": "AAPL"}')], ids=["truncated", "invalid"]
)
def test_the_pickers_cost_counts_the_repaired_call_as_well_as_the_final_one(storage: Storage, first: f.Step) -> None:
    with FakeOpenAIServer() as server:
        server.then(first).then(f.answer())
        picks = _pick(storage, server.base_url, prices={REF.model: PRICE})
    calls, cost = _billed(storage)
    assert calls == 2
    assert not picks.rules  # a model answered: discover shows its name and cost
    last = storage.events.read(type="LLMCallCompleted")[-1].payload
    assert last["outcome"] == "repaired"
    assert picks.cost_usd == pytest.approx(cost)
    assert picks.cost_usd > (last["prompt_tokens"] * 3.0 + last["completion_tokens"] * 15.0) / 1e6


def test_an_unpriced_picker_has_no_cost_rather_than_zero(storage: Storage) -> None:
    with FakeOpenAIServer() as server:
        server.then(f.answer())
        picks = _pick(storage, server.base_url)
    assert picks.cost_usd is None


# The candidate lines as the template's own loop wrote them before the table was made in Python (agents/picker.py).
_LOOP = """Candidates:
{% for c in candidates %}
- {{ c.symbol }} | {{ c.asset_class }} | {{ c.sector }} | {{ "%.2f"|format(c.price) }} | \
{{ "{:,.0f}".format(c.avg_volume) }} | {{ "%.2f%%"|format(c.spread * 100) }} | \
{{ "%.1f%%"|format(c.volatility * 100) }} | {{ "%+.1f%%"|format(c.momentum * 100) }}
{% endfor %}

Pick"""


def test_the_candidate_table_is_the_text_the_templates_loop_made() -> None:
    rng = random.Random(7)
    rows = [
        CandidateFeatures(
            symbol=f"S{i}",
            asset_class=rng.choice(["equity", "etf"]),
            sector=rng.choice(["", "Energy", "Tech"]),
            sessions=100,
            price=rng.choice([0.005, 1234567.891, rng.uniform(0, 500)]),
            avg_volume=rng.choice([0.0, 999.5, 1234567890.5, rng.uniform(0, 1e8)]),
            spread=rng.choice([0.0, 0.000049999, rng.uniform(0, 0.05)]),
            volatility=rng.uniform(0, 2),
            momentum=rng.choice([-0.0004, 0.0, -1.0, rng.uniform(-1, 3)]),
        )
        for i in range(300)
    ]
    prompts = PromptRenderer()
    loop = prompts._env.from_string(_LOOP)
    for shown in (rows, rows[:1]):
        table = picker.candidate_table(shown)
        assert loop.render(candidates=shown) == f"Candidates:\n{table}\nPick"
    assert loop.render(candidates=[]) == f"Candidates:\n{picker.candidate_table([])}\nPick"
    user = prompts.render(
        "picker",
        candidates=rows,
        candidate_table=picker.candidate_table(rows),
        condition="SPY flat",
        similar_conditions=[],
        asof=datetime(2026, 1, 7, 14, 0, tzinfo=UTC),
        session=date(2026, 1, 6),
        most=10,
        momentum_sessions=60,
    ).user
    assert loop.render(candidates=rows).removeprefix("Candidates:\n").removesuffix("\n\nPick") in user
    assert "\n\nPick at most 10 candidates" in user
