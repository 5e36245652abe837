"""What reaches the replay cache: never a failed, truncated, empty, refused or cut-off reply as an answer.

A `--replay` run (and a backtest resumed after a failure) answers from the cache without asking again, so anything
stored there as an answer is final. Each fault below is sent the way the real providers send it (OpenAI's refusal and
finish_reason length, OpenRouter's error inside a 200, Anthropic's 529 overloaded_error body, a connection reset in
the middle of the body, a timeout), on every attempt: the call fails, is recorded as failed, and no answer is cached.
A temporary failure caches nothing, so the next run asks the model again; one final for its prompt (cut at
max_tokens, empty, refused, withheld) is cached marked as the failure it was, under its own key (`:failed`), so a
replay meets it as the run did (tests/test_backtest_final_failures_replayed.py) and `--live-misses` asks it anew. A
schema-invalid answer is the model's own answer, cached as any answer is (a replay then asks for the same repair, and
gets the same repaired answer: the run is reproduced); so is a truncated or empty first reply once its repair
succeeded, marked as the failure it was (tests/test_replay_repaired_failures.py)."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Literal

import httpx
import pytest
from pydantic import BaseModel, Field

from llmtrade.config.models import ModelRef
from llmtrade.errors import LlmtradeError
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes import llm_faults as f
from tests.fakes.llm_transport import BASE_URL, fake_llm

REF = ModelRef(model="m/pm", provider="fake", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="system", content="You are a PM."), ChatMessage(role="user", content="Pitch."))


class Pitch(BaseModel):
    instrument: Literal["SPY", "TLT", "GLD"]
    conviction: int = Field(ge=-2, le=2)
    thesis: str


async def _no_sleep(seconds: float) -> None:
    return None


def _overloaded(request: dict[str, Any]) -> f.Fault:
    # Anthropic's documented 529 body (docs.anthropic.com/en/api/errors), as its OpenAI-compatible endpoint sends it.
    return f.Fault(529, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})


def _reset(request: dict[str, Any]) -> httpx.Response:
    raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


# Each fault: how it is sent, and words of the provider's own reason that the recorded failure must carry.
FAULTS = {
    "truncated": f.truncated(),
    "empty content": f.answer(""),
    "refusal": f.refusal(),
    "content filter": f.content_filter(),
    "error inside a 200": f.error_mid_answer(),
    "503": lambda req: f.Fault(503, {"error": {"message": "Service Unavailable", "type": "server_error"}}),
    "529 overloaded": _overloaded,
    "connection reset mid-body": _reset,
    "timeout": lambda req: (_ for _ in ()).throw(httpx.ReadTimeout("timed out")),
    "429 with retry-after": f.rate_limited("1", "Rate limit reached for requests"),
}

REASONS = {
    "truncated": "cut off at max_tokens",
    "empty content": "empty answer",
    "refusal": "I can't help with that.",
    "content filter": "content filter",
    "error inside a 200": "connection reset by peer",
    "503": "HTTP 503: Service Unavailable",
    "529 overloaded": "HTTP 529: Overloaded",
    "connection reset mid-body": "peer closed connection",
    "timeout": "no answer within",
    "429 with retry-after": "HTTP 429: Rate limit reached",
}


@pytest.mark.parametrize("fault", list(FAULTS), ids=list(FAULTS))
def test_a_failed_answer_never_reaches_the_replay_cache_as_an_answer(storage: Storage, fault: str) -> None:
    cache = AnswerCache(storage.conn)
    client = OpenAICompatibleClient("fake", BASE_URL, "k", sleep=_no_sleep, max_retries=2)
    gateway = LLMGateway(mode=LLMMode.LIVE, clients={"fake": client}, prices={}, events=storage.events, cache=cache)
    with fake_llm() as fake:
        fake.behaviour = FAULTS[fault]
        with pytest.raises(LlmtradeError):
            asyncio.run(gateway.ask(REF, MESSAGES, SITE, output=Pitch, rules=lambda rng: _rules(rng)))
    assert fake.requests  # it was asked
    failed = storage.events.read(type="LLMCallFailed")  # the failure is on file, with the provider's reason
    assert failed and REASONS[fault] in failed[-1].payload["error"]
    kept = [key.endswith(":failed") for key, _, _ in cache.entries()]  # a truncated or empty reply's repair's too
    assert (kept and all(kept)) if fault in {"truncated", "empty content", "refusal", "content filter"} else kept == []


def _rules(rng: random.Random) -> Pitch:
    return Pitch(instrument="SPY", conviction=1, thesis="rules")
