"""An attempt's two clocks (review G, D2) and the cost of an attempt cut off after its 200 (D1).

`timeout_seconds` bounds the wait for a first byte and between reads; the whole attempt has a deadline a real
answer fits (attempt_floor_seconds + max_tokens / min_tokens_per_second). An attempt cut off after the provider
answered 200 was generated and is billed: the budget counts it at its worst case and its record says the cost is
unknown. HTTP mocked at the transport (respx) with a body trickled as a keep-alive."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from llmtrade.config.models import ModelRef, Price
from llmtrade.config.sections import BudgetConfig
from llmtrade.domain.call_costs import cost_unknown
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.errors import BudgetExceeded, LlmtradeError, LLMUnavailable
from llmtrade.llm.budget import Budget, BudgetRefused
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes.llm_transport import BASE_URL, fake_llm
from tests.fakes.openai_server import completion_for

PRICE = Price(input_per_mtok=1000.0, output_per_mtok=1000.0)
REF = ModelRef(model="m/pm", provider="fake", max_tokens=50)
SITE = CallSite(role="pm_pitch", run_id="run-cut")
MESSAGES = (ChatMessage(role="user", content="Pitch."),)


async def _no_wait(seconds: float) -> None:
    return None


def _trickled(body: dict[str, object], *, pause: float, lines: int) -> httpx.Response:
    """HTTP 200 at once, then a "\\n" every `pause` s (a provider's whitespace keep-alive while it generates), then
    the answer (with its usage)."""

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(lines):
            await asyncio.sleep(pause)
            yield b"\n"
        yield json.dumps(completion_for(body)).encode()

    return httpx.Response(200, headers={"content-type": "application/json"}, content=chunks())


def test_a_long_answer_kept_alive_past_timeout_seconds_is_not_cut_off() -> None:
    """Regression seen in review: with the whole attempt bounded by timeout_seconds (default 120), a reasoning model's
    legitimate long answer (4000 tokens at 30 tokens/s: 133 s) behind a keep-alive was cut and asked again, every
    attempt generated and paid. timeout_seconds now bounds only the wait between reads; here 0.3 s between reads and
    an answer that takes 1.2 s to come: one attempt, answered."""
    with fake_llm() as fake:
        fake.then(lambda body: _trickled(body, pause=0.05, lines=24))
        client = OpenAICompatibleClient("test", BASE_URL, "k", timeout_seconds=0.3, max_retries=2, sleep=_no_wait)
        request = ChatRequest(model="m/one", messages=MESSAGES, max_tokens=4000)
        reply = asyncio.run(client.send(request))
    assert reply.attempts == 1 and len(fake.requests) == 1
    assert reply.cut_off == 0
    # The default whole-attempt deadline leaves room for 4000 tokens at 20 tokens/s on top of a 300 s floor.
    assert client.attempt_deadline(4000) == 500.0
    assert client.attempt_deadline(32768) > 32768 / 20


def test_a_keep_alive_that_never_ends_still_times_out_at_the_attempt_deadline() -> None:
    with fake_llm() as fake:
        fake.then(*(lambda body: _trickled(body, pause=0.05, lines=400) for _ in range(2)))
        client = OpenAICompatibleClient(
            "test",
            BASE_URL,
            "k",
            timeout_seconds=0.2,
            attempt_floor_seconds=0.3,
            min_tokens_per_second=1000.0,
            max_retries=1,
            sleep=_no_wait,
        )
        started = time.perf_counter()
        with pytest.raises(LLMUnavailable, match=r"no whole answer within 0\.35 s") as caught:
            asyncio.run(client.send(ChatRequest(model="m/one", messages=MESSAGES, max_tokens=50)))
        took = time.perf_counter() - started
    assert len(fake.requests) == 2 and took < 2.0  # two attempts of 0.35 s, not two bodies of 20 s
    assert caught.value.cut_off == 2  # both were answered 200 before they were cut: generated, billed
    assert "2 cut off after the provider began answering: billed, cost unknown" in str(caught.value)


def _gateway(storage: Storage, budget: Budget, **kw: object) -> LLMGateway:
    client = OpenAICompatibleClient(
        "fake",
        BASE_URL,
        "k",
        timeout_seconds=0.2,
        attempt_floor_seconds=0.3,
        min_tokens_per_second=1000.0,
        sleep=_no_wait,
        **kw,  # type: ignore[arg-type]
    )
    return LLMGateway(
        mode=LLMMode.LIVE,
        clients={"fake": client},
        prices={"m/pm": PRICE},
        events=storage.events,
        cache=AnswerCache(storage.conn),
        budget=budget,
    )


def _worst(gateway: LLMGateway) -> float:
    probe = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    hold = probe.reserve_request("probe", gateway._request(REF, MESSAGES, None))
    assert hold is not None and not isinstance(hold, BudgetRefused)
    return hold.amount


def test_attempts_cut_off_after_their_200_count_at_their_worst_case_not_free(storage: Storage) -> None:
    """Seen in review: four attempts cut off at the deadline, each generated to the end and billed by the provider,
    and the budget counted $0 (run_spent 0.0; the failed call's record had no cost and no cost_counted_usd)."""
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    gateway = _gateway(storage, budget, max_retries=3)
    worst = _worst(gateway)
    with fake_llm() as fake:
        fake.then(*(lambda body: _trickled(body, pause=0.05, lines=400) for _ in range(4)))

        async def go() -> None:
            with pytest.raises(LLMUnavailable):
                await gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "x")
            await gateway.aclose()

        asyncio.run(go())
    assert len(fake.requests) == 4
    assert budget.run_spent == pytest.approx(4 * worst)
    [stored] = storage.events.read(type="LLMCallFailed")
    failed = LLMCallFailed.from_event(stored)
    assert failed.cut_off_attempts == 4 and failed.cost_usd is None
    assert failed.cost_counted_usd == pytest.approx(4 * worst)
    assert cost_unknown(stored.payload)


def test_an_answer_after_a_cut_off_attempt_counts_both(storage: Storage) -> None:
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    gateway = _gateway(storage, budget, max_retries=1)
    worst = _worst(gateway)
    with fake_llm() as fake:
        fake.then(lambda body: _trickled(body, pause=0.05, lines=400), lambda body: _trickled(body, pause=0, lines=0))

        async def go() -> None:
            await gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "x")
            await gateway.aclose()

        asyncio.run(go())
    [stored] = storage.events.read(type="LLMCallCompleted")
    call = LLMCallCompleted.from_event(stored)
    answer_cost = (call.prompt_tokens + call.completion_tokens) * 1000.0 / 1e6  # the answer's usage at PRICE
    assert answer_cost > 0
    assert budget.run_spent == pytest.approx(answer_cost + worst)
    assert call.cut_off_attempts == 1 and call.cost_usd is None
    assert call.cost_counted_usd == pytest.approx(answer_cost + worst)


def test_an_attempt_that_never_got_a_status_counts_nothing(storage: Storage) -> None:
    """No 200 came back (the first byte never did): nothing is known to be generated, nothing counted."""
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    gateway = _gateway(storage, budget, max_retries=0)
    with fake_llm(delay=1.0) as fake:
        fake.then(lambda body: _trickled(body, pause=0, lines=0))

        async def go() -> None:
            with pytest.raises(LLMUnavailable):
                await gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "x")
            await gateway.aclose()

        asyncio.run(go())
    assert budget.run_spent == 0.0
    [failed] = [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]
    assert failed.cut_off_attempts == 0 and failed.cost_counted_usd is None


# ---------------------------------------------------------------- an error in the body of a 200 (review G2)

_SPENT = {"prompt_tokens": 10, "completion_tokens": 40}  # $0.05 at PRICE


def _ask(gateway: LLMGateway, raises: type[Exception] | None = LlmtradeError) -> None:
    async def go() -> None:
        try:
            if raises is None:
                await gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "x")
            else:
                with pytest.raises(raises):
                    await gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "x")
        finally:
            await gateway.aclose()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("code", "retries", "sent"),
    [(502, 2, 3), (400, 0, 1), (402, 0, 1), (429, 1, 2)],
)
def test_an_error_in_a_200_body_is_billed_at_the_usage_it_reports(
    storage: Storage, code: int, retries: int, sent: int
) -> None:
    """Review G2: a 200 whose body is {"error": {"code": ...}, "usage": {...}} (OpenRouter sends an error during
    generation so) was retried or refused and counted $0 (before aaa2147 it was priced). Each attempt's tokens are
    billed: priced into the budget, the run's totals and the failed call's record."""
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    gateway = _gateway(storage, budget, max_retries=retries)
    body = {"error": {"code": code, "message": "upstream died mid-answer"}, "usage": _SPENT}
    with fake_llm() as fake:
        fake.then(*(httpx.Response(200, json=body) for _ in range(sent)))
        _ask(gateway)
    assert len(fake.requests) == sent
    assert budget.run_spent == pytest.approx(sent * 0.05)
    [stored] = storage.events.read(type="LLMCallFailed")
    failed = LLMCallFailed.from_event(stored)
    assert (failed.prompt_tokens, failed.completion_tokens) == (10 * sent, 40 * sent)
    assert failed.cost_usd == pytest.approx(sent * 0.05) and failed.cost_counted_usd is None
    assert gateway.totals.cost_usd == pytest.approx(sent * 0.05)


def test_an_error_in_a_200_body_without_usage_counts_at_its_worst_case(storage: Storage) -> None:
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    gateway = _gateway(storage, budget, max_retries=0)
    worst = _worst(gateway)
    with fake_llm() as fake:
        fake.then(httpx.Response(200, json={"error": {"code": 400, "message": "context length"}}))
        _ask(gateway)
    assert budget.run_spent == pytest.approx(worst)
    [stored] = storage.events.read(type="LLMCallFailed")
    assert LLMCallFailed.from_event(stored).cost_counted_usd == pytest.approx(worst)
    assert cost_unknown(stored.payload)


def test_an_answer_after_an_error_in_a_200_body_counts_both(storage: Storage) -> None:
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    gateway = _gateway(storage, budget, max_retries=1)
    body = {"error": {"code": 502, "message": "upstream died mid-answer"}, "usage": _SPENT}
    with fake_llm() as fake:
        fake.then(httpx.Response(200, json=body), lambda req: _trickled(req, pause=0, lines=0))
        _ask(gateway, raises=None)
    [stored] = storage.events.read(type="LLMCallCompleted")
    call = LLMCallCompleted.from_event(stored)
    assert call.prompt_tokens > 10 and call.completion_tokens > 40  # the answer's and the failed attempt's
    assert call.cost_usd == pytest.approx((call.prompt_tokens + call.completion_tokens) * 1000.0 / 1e6)
    assert budget.run_spent == pytest.approx(call.cost_usd)
    [entry] = storage.conn.execute("SELECT prompt_tokens, completion_tokens FROM llm_cache").fetchall()
    assert entry == (call.prompt_tokens - 10, call.completion_tokens - 40)  # the cache keeps the answer's alone


def test_a_200_whose_body_is_not_json_counts_at_its_worst_case(storage: Storage) -> None:
    """Review G2: a 200 whose body is not JSON (cut or mangled on the way) was retried and counted $0; the 200 says
    the answer was generated, so it counts as the other attempts cut off after their 200 do."""
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    gateway = _gateway(storage, budget, max_retries=1)
    worst = _worst(gateway)
    with fake_llm() as fake:
        fake.then(*(httpx.Response(200, content=b'\n\n{"id": "gen-1", "choi') for _ in range(2)))
        _ask(gateway)
    assert budget.run_spent == pytest.approx(2 * worst)
    [stored] = storage.events.read(type="LLMCallFailed")
    assert LLMCallFailed.from_event(stored).cut_off_attempts == 2 and cost_unknown(stored.payload)


# ------------------------------------------------- a retry after a billed attempt holds its own worst case


def test_retries_after_billed_attempts_never_pass_the_run_ceiling(storage: Storage) -> None:
    """Review G2: the budget held one worst case per call, but each billed attempt counts at the worst case, so the
    retries after cut-off attempts were sent unreserved (limit 0.0945, spent 0.252). A retry now holds one more worst
    case first; when it does not fit, it is not sent: the refusal is recorded and the call ends as BudgetExceeded,
    its billed attempts counted."""
    probe = _gateway(storage, Budget.unlimited())
    worst = _worst(probe)
    budget = Budget(BudgetConfig(per_run_usd=1.5 * worst), {"m/pm": PRICE})
    gateway = _gateway(storage, budget, max_retries=3)
    with fake_llm() as fake:
        fake.then(*(lambda body: _trickled(body, pause=0.05, lines=400) for _ in range(4)))
        _ask(gateway, raises=BudgetExceeded)
    assert len(fake.requests) == 1
    assert budget.run_spent == pytest.approx(worst) and budget.reserved == 0.0
    [refused] = storage.events.read(type="BudgetRefused")
    assert refused.payload["worst_case_usd"] == pytest.approx(worst, abs=1e-6)
    [stored] = storage.events.read(type="LLMCallFailed")
    failed = LLMCallFailed.from_event(stored)
    assert failed.error_type == "BudgetExceeded" and failed.cut_off_attempts == 1
    assert failed.cost_counted_usd == pytest.approx(worst)
    assert gateway.totals.requests == 1


def test_concurrent_calls_with_billed_retries_never_together_pass_the_ceiling(storage: Storage) -> None:
    """Each call's retries hold their worst case before they are sent, so two calls cut off at once cannot together
    spend past the ceiling; with room for three worst cases, three attempts are sent in all."""
    worst = _worst(_gateway(storage, Budget.unlimited()))
    budget = Budget(BudgetConfig(per_run_usd=3.5 * worst), {"m/pm": PRICE})
    gateway = _gateway(storage, budget, max_retries=3)
    with fake_llm() as fake:
        fake.then(*(lambda body: _trickled(body, pause=0.05, lines=400) for _ in range(8)))

        async def go() -> None:
            calls = [gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "x") for _ in range(2)]
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            assert all(isinstance(outcome, BudgetExceeded) for outcome in outcomes)
            await gateway.aclose()

        asyncio.run(go())
    assert budget.run_spent <= 3.5 * worst and budget.reserved == 0.0
    assert len(fake.requests) == 3 and budget.run_spent == pytest.approx(3 * worst)


def test_a_retry_after_a_billed_attempt_is_sent_when_its_worst_case_fits(storage: Storage) -> None:
    worst = _worst(_gateway(storage, Budget.unlimited()))
    budget = Budget(BudgetConfig(per_run_usd=2.5 * worst), {"m/pm": PRICE})
    gateway = _gateway(storage, budget, max_retries=1)
    with fake_llm() as fake:
        fake.then(lambda body: _trickled(body, pause=0.05, lines=400), lambda body: _trickled(body, pause=0, lines=0))
        _ask(gateway, raises=None)
    assert len(fake.requests) == 2 and budget.reserved == 0.0
    assert budget.run_spent <= 2.5 * worst


# ------------------------------------------------- a call cancelled after billed attempts (SIGTERM, a sibling failing)


def _cancelled_after_a_billed_attempt(storage: Storage, budget: Budget, *, retry_answers: bool) -> LLMGateway:
    """A first attempt billed (a 200 carrying a 502, with its usage), then a retry that hangs (before its status, or
    after its 200: `retry_answers`); the call is cancelled while the retry is in flight."""
    gateway = _gateway(storage, budget, max_retries=2)
    body = {"error": {"code": 502, "message": "upstream died mid-answer"}, "usage": _SPENT}
    with fake_llm() as fake:

        def billed(request: dict[str, object]) -> httpx.Response:
            fake.delay = 0.0 if retry_answers else 60.0  # the next request waits for its status
            return httpx.Response(200, json=body)

        fake.then(billed, lambda request: _trickled(request, pause=0.05, lines=400))

        async def go() -> None:
            call = asyncio.create_task(gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "x"))
            while len(fake.requests) < 2:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.05)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            await gateway.aclose()

        asyncio.run(go())
    return gateway


def test_a_call_cancelled_after_a_billed_attempt_counts_it(storage: Storage) -> None:
    """Review: a call cancelled (SIGTERM through the job loop, a sibling failing in a gather) after a billed attempt
    settled at $0 (the client's tally of billed attempts went only onto its typed errors) and left no record. It now
    counts what was billed (the usage reported), in the budget, the run's totals and an LLMCallFailed."""
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    gateway = _cancelled_after_a_billed_attempt(storage, budget, retry_answers=False)
    assert budget.run_spent == pytest.approx(0.05) and budget.reserved == 0.0
    assert gateway.totals.cost_usd == pytest.approx(0.05)
    [stored] = storage.events.read(type="LLMCallFailed")
    failed = LLMCallFailed.from_event(stored)
    assert failed.error_type == "CancelledError" and failed.cost_usd == pytest.approx(0.05)
    assert (failed.prompt_tokens, failed.completion_tokens) == (10, 40)


def test_a_call_cancelled_after_its_retry_s_200_counts_that_attempt_at_its_worst_case(storage: Storage) -> None:
    """The retry had answered 200 (generating, billed) when the call was cancelled: counted as a cut-off attempt."""
    budget = Budget(BudgetConfig(per_run_usd=1000.0), {"m/pm": PRICE})
    worst = _worst(_gateway(storage, Budget.unlimited()))
    _cancelled_after_a_billed_attempt(storage, budget, retry_answers=True)
    assert budget.run_spent == pytest.approx(0.05 + worst) and budget.reserved == 0.0
    [stored] = storage.events.read(type="LLMCallFailed")
    failed = LLMCallFailed.from_event(stored)
    assert failed.cut_off_attempts == 1 and failed.cost_counted_usd == pytest.approx(0.05 + worst)


def test_a_retry_after_an_attempt_billed_at_a_known_cost_holds_that_cost_not_a_worst_case(storage: Storage) -> None:
    """Review: after an attempt whose 200 carried an error and its usage (2 tokens), the retry held one more whole
    worst case for it, so a retry that fits was refused ('$0.0630 held ... $0.0630 worst case' against $0.0945). The
    attempt's known cost is held now; its retry is sent and answered, within the ceiling."""
    worst = _worst(_gateway(storage, Budget.unlimited()))
    budget = Budget(BudgetConfig(per_run_usd=1.5 * worst), {"m/pm": PRICE})
    gateway = _gateway(storage, budget, max_retries=1)
    body = {"error": {"code": 502, "message": "upstream died"}, "usage": {"prompt_tokens": 1, "completion_tokens": 1}}
    with fake_llm() as fake:
        fake.then(httpx.Response(200, json=body), lambda request: _trickled(request, pause=0, lines=0))
        _ask(gateway, raises=None)
    assert len(fake.requests) == 2 and budget.reserved == 0.0
    assert not storage.events.read(type="BudgetRefused")
    [stored] = storage.events.read(type="LLMCallCompleted")
    assert budget.run_spent == pytest.approx(LLMCallCompleted.from_event(stored).cost_usd)
    assert budget.run_spent <= 1.5 * worst
