"""What a refusal says, read whole. How long a 429 asks to wait when it sends no Retry-After: OpenRouter's own limits
(20 requests a minute for a free model) give the window's end in X-RateLimit-Reset, epoch milliseconds, copied into the
error's metadata.headers (openrouter.ai/docs/api-reference/limits; a body as Gitlawb/openclaude#936 shows);
openai-python reads retry-after-ms before Retry-After. Each was unread: the call backed off ~8 s in all and gave up on
a window a minute long. And two refusals that named the wrong fix: a moderation 403, a redirect."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from llmtrade.config.models import ModelRef
from llmtrade.errors import LLMAuthRejected, LLMNoEndpoint, LLMRateLimited
from llmtrade.llm.gateway import CallSite
from llmtrade.llm.types import ChatMessage
from llmtrade.pipeline.retry import holdable
from llmtrade.reply_errors import LLMContentFiltered
from llmtrade.storage.bootstrap import Storage
from tests.fakes import llm_faults as f
from tests.fakes.llm_transport import fake_llm
from tests.support import live_gateway

REF = ModelRef(model="m/free", provider="fake", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="user", content="Pitch."),)


def _ask(storage: Storage, slept: list[float]) -> Any:
    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    gateway = live_gateway(storage, sleep=sleep)
    return asyncio.run(gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "rules"))


def _per_minute(reset_in: float, *, in_body: bool = True) -> f.Step:
    reset = str(int((time.time() + reset_in) * 1000))
    headers = {"X-RateLimit-Limit": "20", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
    error = {"message": "Rate limit exceeded: free-models-per-min.", "code": 429}
    if in_body:
        return lambda req: f.Fault(429, {"error": {**error, "metadata": {"headers": headers}}})
    return lambda req: f.Fault(429, {"error": error}, headers=headers)


@pytest.mark.parametrize("in_body", [True, False], ids=["metadata.headers", "response header"])
def test_a_per_minute_limit_is_waited_out_until_its_reset(storage: Storage, in_body: bool) -> None:
    slept: list[float] = []
    with fake_llm() as fake:
        fake.then(_per_minute(45, in_body=in_body))
        answer = _ask(storage, slept)
    assert answer.value and len(fake.requests) == 2
    assert slept and 40 <= slept[0] <= 45.5


def test_a_reset_further_off_than_the_run_may_wait_fails_at_once(storage: Storage) -> None:
    slept: list[float] = []
    with fake_llm() as fake:
        fake.then(_per_minute(600))
        with pytest.raises(LLMRateLimited, match=r"wait (5\d\d|600) s \(X-RateLimit-Reset\), longer than the 120 s"):
            _ask(storage, slept)
    assert len(fake.requests) == 1 and slept == []


def test_retry_after_ms_is_read_before_retry_after(storage: Storage) -> None:
    slept: list[float] = []
    limited = f.Fault(429, {"error": {"message": "Rate limit reached"}}, headers={"retry-after-ms": "2500"})
    with fake_llm() as fake:
        fake.then(lambda req: limited)
        assert _ask(storage, slept).value
    assert slept == [2.5]


# ---------------------------------------------------------------- refusals that named the wrong fix


def test_openrouters_moderation_refusal_is_a_filtered_answer_naming_its_reasons_not_a_bad_key(storage: Storage) -> None:
    """openrouter.ai/docs/api-reference/errors: "403: Your chosen model requires moderation and your input was
    flagged", with metadata.reasons and flagged_input. It read as a refused key ("check the provider's API key"), which
    a rerun asks again: the same prompt is flagged again."""
    flagged = {
        "code": 403,
        "message": 'openai/gpt-4o requires moderation on OpenAI. Your input was flagged for "violence". '
        "No credits were charged.",
        "metadata": {"reasons": ["violence"], "flagged_input": "...", "provider_name": "OpenAI", "model_slug": "m"},
    }
    with fake_llm() as fake:
        fake.then(lambda req: f.Fault(403, {"error": flagged}))
        with pytest.raises(LLMContentFiltered) as caught:
            _ask(storage, [])
    assert "flagged the request for m/free in moderation (violence)" in str(caught.value)
    assert "API key" not in str(caught.value) and holdable(caught.value) and len(fake.requests) == 1


def test_a_403_without_moderation_metadata_is_still_the_key_or_the_account(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(lambda req: f.Fault(403, {"error": {"code": 403, "message": "Key disabled"}}))
        with pytest.raises(LLMAuthRejected, match="check the provider's API key"):
            _ask(storage, [])


@pytest.mark.parametrize("status", [301, 307, 308])
def test_a_redirect_is_refused_at_once_naming_where_it_points(storage: Storage, status: int) -> None:
    """A wrong base_url, or a proxy in between, answers with a redirect, which httpx does not follow (nor should it: a
    POST sent on could carry the key to another host). It was read as a body that is not JSON and retried five times,
    then temporary on every rerun, where it pointed never said."""
    moved = "https://openrouter.ai/api/v1/chat/completions"
    with fake_llm() as fake:
        fake.then(lambda req: f.Fault(status, "", headers={"location": moved}))
        with pytest.raises(LLMNoEndpoint) as caught:
            _ask(storage, [])
    assert f"HTTP {status}" in str(caught.value) and f"a redirect to {moved}" in str(caught.value)
    assert "base_url" in str(caught.value) and len(fake.requests) == 1
