"""The gateway against providers that misbehave the way real ones do (tests/fakes/llm_faults.py):
each shape ends in a correct answer recorded as such, or a clear failure recorded as LLMCallFailed."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from llmtrade.config.models import ModelRef
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed
from llmtrade.errors import LLMRateLimited, LLMRequestRejected, LLMUnavailable, StructuredOutputRefused, TemporaryError
from llmtrade.llm.gateway import CallSite, LLMGateway, LLMMode
from llmtrade.llm.http_client import OpenAICompatibleClient
from llmtrade.llm.types import ChatMessage
from llmtrade.reply_errors import LLMContentFiltered, LLMContextExceeded, LLMEmptyAnswer, LLMTruncated
from llmtrade.storage.bootstrap import Storage
from llmtrade.storage.llm_cache import AnswerCache
from tests.fakes import llm_faults as f
from tests.fakes.llm_transport import BASE_URL, fake_llm
from tests.fakes.openai_server import FakeOpenAIServer

REF = ModelRef(model="m/pm", provider="fake", max_tokens=1000)
SITE = CallSite(role="pm_pitch", run_id="run-1", account_id="acct_1")
MESSAGES = (ChatMessage(role="system", content="You are a PM."), ChatMessage(role="user", content="Pitch."))


class Pitch(BaseModel):
    instrument: Literal["SPY", "TLT", "GLD"]
    conviction: int = Field(ge=-2, le=2)
    thesis: str


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _gateway(storage: Storage, base_url: str = BASE_URL, sleeps: Sleeps | None = None, **kw: Any) -> LLMGateway:
    client = OpenAICompatibleClient("fake", base_url, "k", sleep=sleeps or Sleeps(), **kw)
    return LLMGateway(
        mode=LLMMode.LIVE, clients={"fake": client}, prices={}, events=storage.events, cache=AnswerCache(storage.conn)
    )


def _rules(rng: random.Random) -> Pitch:
    return Pitch(instrument="SPY", conviction=1, thesis="rules")


def _ask(gateway: LLMGateway) -> Any:
    return asyncio.run(gateway.ask(REF, MESSAGES, SITE, output=Pitch, rules=_rules))


def _text(gateway: LLMGateway) -> Any:
    return asyncio.run(gateway.ask_text(REF, MESSAGES, SITE, rules=lambda rng: "rules"))


def _done(storage: Storage) -> list[LLMCallCompleted]:
    return [LLMCallCompleted.from_event(e) for e in storage.events.read(type="LLMCallCompleted")]


def _failed(storage: Storage) -> list[LLMCallFailed]:
    return [LLMCallFailed.from_event(e) for e in storage.events.read(type="LLMCallFailed")]


# ---------------------------------------------------------------- answers that are fine once cleaned


def test_a_think_block_before_the_json_is_stripped_and_kept_in_the_event(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.think_then("Rates look heavy."))
        answer = _ask(_gateway(storage))
    assert not answer.repaired and answer.value.instrument in ("SPY", "TLT", "GLD")
    [call] = _done(storage)
    assert (call.outcome, call.think, call.response_mode) == ("ok", "Rates look heavy.", "json_schema")
    assert not call.answer.startswith("<think>")


def test_a_free_text_answer_is_returned_without_its_think_block(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.think_then("private musing", "The public answer."))
        answer = _text(_gateway(storage))
    assert answer.value == "The public answer."
    assert _done(storage)[0].think == "private musing"


def test_content_as_parts_is_joined_into_a_valid_answer(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.content_parts())
        answer = _ask(_gateway(storage))
    assert not answer.repaired and _done(storage)[0].outcome == "ok"


def test_reasoning_is_the_answer_only_when_configured_and_the_event_says_so(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.reasoning_only(key="reasoning_content"))
        answer = _ask(_gateway(storage, reasoning_as_answer=True))
    assert not answer.repaired
    [call] = _done(storage)
    assert call.answer_from == "reasoning" and call.reasoning == call.answer


def test_reasoning_only_without_the_option_is_a_recorded_empty_answer_then_a_repair(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.reasoning_only(), f.answer())
        answer = _ask(_gateway(storage))
    assert answer.repaired
    [failed] = _failed(storage)
    assert failed.error_type == "LLMEmptyAnswer" and "reasoning_as_answer" in failed.error
    assert failed.reasoning and failed.answer == ""
    assert [c.outcome for c in _done(storage)] == ["repaired"]
    assert _done(storage)[0].note == "repair after an empty answer"


def test_free_text_with_only_reasoning_fails_and_is_never_an_empty_answer(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.reasoning_only("thinking about it"))
        with pytest.raises(LLMEmptyAnswer):
            _text(_gateway(storage))
    assert _done(storage) == [] and _failed(storage)[0].reasoning == "thinking about it"


# ---------------------------------------------------------------- truncation


def test_a_truncated_structured_answer_is_repaired_with_a_larger_max_tokens(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.truncated(), f.answer())
        answer = _ask(_gateway(storage))
    assert answer.repaired
    assert [r["max_tokens"] for r in fake.requests] == [1000, 2000]
    assert "cut off at the token limit" in fake.requests[1]["messages"][-1]["content"]
    [failed] = _failed(storage)
    assert (failed.error_type, failed.finish_reason, failed.max_tokens) == ("LLMTruncated", "length", 1000)
    assert failed.answer and "cut off at max_tokens" in failed.error
    [call] = _done(storage)
    assert call.max_tokens == 2000 and "max_tokens 1000 -> 2000" in (call.note or "")


def test_a_second_truncation_fails_the_role_with_the_typed_error(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.truncated(), f.truncated())
        with pytest.raises(LLMTruncated):
            _ask(_gateway(storage))
    assert [e.error_type for e in _failed(storage)] == ["LLMTruncated", "LLMTruncated"]
    assert _done(storage) == []


def test_a_truncated_free_text_answer_is_a_failure_not_an_answer(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.truncated())
        with pytest.raises(LLMTruncated):
            _text(_gateway(storage))
    assert _done(storage) == [] and _failed(storage)[0].finish_reason == "length"


# ---------------------------------------------------------------- errors inside 200s, filters, refusals


@pytest.mark.parametrize(
    ("step", "error", "words"),
    [
        (f.content_filter(), LLMContentFiltered, ["content filter"]),
        (f.refusal("I can't help with that."), LLMContentFiltered, ["refused to answer: I can't help"]),
        (f.tool_call_only(), LLMEmptyAnswer, ["called a tool"]),
    ],
)
def test_a_reply_that_is_no_answer_fails_clearly_and_is_recorded(
    storage: Storage, step: Any, error: type[Exception], words: list[str]
) -> None:
    with fake_llm() as fake:
        fake.then(step)
        with pytest.raises(error) as caught:
            _text(_gateway(storage))
    [failed] = _failed(storage)
    assert failed.error_type == error.__name__
    for word in words:
        assert word in str(caught.value) and word in failed.error
    assert _done(storage) == []


@pytest.mark.parametrize(
    ("finish", "native", "error"),
    [
        ("SAFETY", None, LLMContentFiltered),  # Google's OpenAI-compatible endpoint passes Gemini's reason through
        ("stop", "refusal", LLMContentFiltered),  # OpenRouter: Anthropic's refusal behind a normalised "stop"
        ("stop", "PROHIBITED_CONTENT", LLMContentFiltered),
        ("MAX_TOKENS", None, LLMTruncated),
        ("stop", "model_context_window_exceeded", LLMContextExceeded),
    ],
)
def test_part_of_an_answer_ended_by_a_providers_own_stop_reason_is_never_the_answer(
    storage: Storage, finish: str, native: str | None, error: type[Exception]
) -> None:
    with fake_llm() as fake:
        fake.then(f.stopped(finish, native))
        with pytest.raises(error) as caught:
            _text(_gateway(storage))
    assert _done(storage) == []
    [failed] = _failed(storage)
    reason = native or finish
    assert failed.error_type == error.__name__ and failed.finish_reason == finish
    assert reason in str(caught.value) and reason in failed.error and failed.answer  # the partial text is kept


@pytest.mark.parametrize(("finish", "native"), [("RECITATION", None), ("stop", "RECITATION")])
def test_an_answer_gemini_withheld_for_recitation_is_asked_once_more_and_taken(
    storage: Storage, finish: str, native: str | None
) -> None:
    with fake_llm() as fake:
        fake.then(f.stopped(finish, native), f.answer("The whole answer."))
        answer = _text(_gateway(storage))
    assert answer.value == "The whole answer." and len(fake.requests) == 2
    [call] = _done(storage)
    assert call.attempts == 2 and call.note is not None and "RECITATION" in call.note
    assert call.prompt_tokens > 0 and _failed(storage) == []  # the withheld attempt is billed with the answer


def test_recitation_twice_is_final_naming_its_reason(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.stopped("stop", "RECITATION"), f.stopped("stop", "RECITATION"), f.answer())
        with pytest.raises(LLMContentFiltered, match="RECITATION") as caught:
            _text(_gateway(storage))
    assert len(fake.requests) == 2 and "asked once more" in str(caught.value)
    [failed] = _failed(storage)
    assert failed.error_type == "LLMContentFiltered" and "RECITATION" in failed.error and failed.billed
    assert _done(storage) == []


@pytest.mark.parametrize(("finish", "native"), [("SAFETY", None), ("stop", "PROHIBITED_CONTENT"), ("stop", "refusal")])
def test_a_safety_stop_or_a_refusal_is_not_asked_again(storage: Storage, finish: str, native: str | None) -> None:
    with fake_llm() as fake:
        fake.then(f.stopped(finish, native), f.answer())
        with pytest.raises(LLMContentFiltered):
            _text(_gateway(storage))
    assert len(fake.requests) == 1


def test_a_refusal_beside_content_is_the_models_refusal_not_its_answer(storage: Storage) -> None:
    """OpenAI's `message.refusal` says the model declined (its SDK parses a structured answer only when no refusal is
    set: openai-python `maybe_parse_content`); a reply with both took the content as the answer and dropped the
    refusal, so a declined pitch could be traded and no event said the model had refused."""
    refused = "I can't provide investment advice."
    with fake_llm() as fake:
        fake.then(f.refusal(refused, with_content=True), f.answer())
        with pytest.raises(LLMContentFiltered, match="refused to answer: I can't provide investment advice"):
            _ask(_gateway(storage))
    assert len(fake.requests) == 1  # final at once, as a refusal with no content is: not repaired
    [failed] = _failed(storage)
    assert failed.error_type == "LLMContentFiltered" and refused in failed.error and failed.billed
    assert failed.answer and "SPY" in failed.answer  # the content that came beside it, kept in the event
    assert _done(storage) == []


def test_a_structured_answer_cut_by_gemini_max_tokens_is_repaired_as_a_truncation(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.stopped("MAX_TOKENS"), f.answer())
        answer = _ask(_gateway(storage))
    assert answer.repaired and [r["max_tokens"] for r in fake.requests] == [1000, 2000]
    [failed] = _failed(storage)
    assert failed.error_type == "LLMTruncated" and "MAX_TOKENS" in failed.error


def test_a_structured_answer_withheld_by_a_filter_is_not_repaired_as_bad_json(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.stopped("SAFETY"))
        with pytest.raises(LLMContentFiltered, match="SAFETY"):
            _ask(_gateway(storage))
    assert len(fake.requests) == 1  # the filter meets the same request again: final at once
    assert [e.error_type for e in _failed(storage)] == ["LLMContentFiltered"] and _done(storage) == []


def test_a_prompt_gemini_blocked_is_a_final_filter_naming_its_reason(storage: Storage) -> None:
    blocked = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usage": {"prompt_tokens": 13}}
    with fake_llm() as fake:
        fake.then(lambda req: f.Fault(200, blocked))
        with pytest.raises(LLMContentFiltered, match=r"blocked the prompt.*PROHIBITED_CONTENT") as caught:
            _text(_gateway(storage))
    assert not isinstance(caught.value, TemporaryError)
    [failed] = _failed(storage)
    assert failed.error_type == "LLMContentFiltered" and "PROHIBITED_CONTENT" in failed.error


def test_an_openrouter_400_shows_the_upstream_provider_and_its_raw_reason(storage: Storage) -> None:
    raw = json.dumps({"error": {"message": "temperature is not supported with this model"}})
    with fake_llm() as fake:
        fake.then(f.error_body(400, 400, "Provider returned error", "OpenAI", raw))
        with pytest.raises(LLMRequestRejected) as caught:
            _text(_gateway(storage))
    assert "upstream provider OpenAI" in str(caught.value)
    assert "temperature is not supported with this model" in str(caught.value)
    assert "temperature is not supported" in _failed(storage)[0].error


# ---------------------------------------------------------------- rate limits and broken bodies


@pytest.mark.parametrize(
    ("retry_after", "message", "why"),
    [
        ("86400", "Rate limit exceeded", "asked to wait 86400 s"),
        ("5", "Rate limit exceeded: free-models-per-day", "quota that resets later"),
        (None, "You exceeded your current quota, please check your plan and billing details.", "quota"),
    ],
)
def test_a_rate_limit_the_run_cannot_wait_out_fails_at_once(
    storage: Storage, retry_after: str | None, message: str, why: str
) -> None:
    sleeps = Sleeps()
    with fake_llm() as fake:
        fake.then(f.rate_limited(retry_after, message))
        with pytest.raises(LLMRateLimited) as caught:
            _text(_gateway(storage, sleeps=sleeps))
    assert len(fake.requests) == 1 and sleeps.calls == []
    assert why in str(caught.value) and caught.value.exit_code == 75
    assert _failed(storage)[0].error_type == "LLMRateLimited"


def test_a_short_retry_after_is_still_waited_and_the_cap_is_configurable(storage: Storage) -> None:
    sleeps = Sleeps()
    with fake_llm() as fake:
        fake.then(f.rate_limited("30", "slow down"))
        assert _text(_gateway(storage, sleeps=sleeps)).value
    assert sleeps.calls == [30.0]
    with fake_llm() as fake:
        fake.then(f.rate_limited("30", "slow down"))
        with pytest.raises(LLMRateLimited, match="longer than the 10 s"):
            _text(_gateway(storage, max_retry_after_seconds=10))


def test_a_retry_after_given_as_a_far_http_date_fails_at_once(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.rate_limited("Wed, 21 Oct 2099 07:28:00 GMT", "Too many requests"))
        with pytest.raises(LLMRateLimited, match="Retry-After"):
            _text(_gateway(storage))
    assert len(fake.requests) == 1


def test_a_rate_limit_relayed_inside_a_200_follows_the_same_rules(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.error_body(200, 429, "Rate limit exceeded: limit_rpd/google/gemini", "Google"))
        with pytest.raises(LLMRateLimited):
            _text(_gateway(storage))
    assert len(fake.requests) == 1


@pytest.mark.parametrize("via", ["openrouter", "google"])
def test_a_google_per_minute_quota_is_waited_for_as_its_retry_info_asks(storage: Storage, via: str) -> None:
    sleeps = Sleeps()
    with fake_llm() as fake:
        fake.then(f.google_quota(retry_delay="26s", via=via), f.answer("Fine."))
        assert _text(_gateway(storage, sleeps=sleeps)).value == "Fine."
    assert sleeps.calls == [26.0] and len(fake.requests) == 2


def test_googles_check_quota_with_no_wait_named_is_retried_with_backoff(storage: Storage) -> None:
    sleeps = Sleeps()
    exhausted = f.google_quota(
        retry_delay=None, message="Resource has been exhausted (e.g. check quota).", via="google"
    )
    with fake_llm() as fake:
        fake.then(exhausted, f.answer("Fine."))
        assert _text(_gateway(storage, sleeps=sleeps)).value == "Fine."
    assert len(sleeps.calls) == 1 and sleeps.calls[0] < 2


@pytest.mark.parametrize(
    ("message", "wait"),
    [
        (
            "Quota exceeded for metric: generate_content_free_tier_requests, limit: 20\nPlease retry in 36.429760048s.",
            36.43,
        ),
        ("You have exhausted your capacity on this model. Your quota will reset after 27s.", 27.0),
        ("Rate limit reached for gpt-4.1 on tokens per min (TPM). Please try again in 820ms.", 0.82),
        ("Too many requests, please retry after 20 seconds.", 20.0),
    ],
)
def test_a_wait_named_in_a_429_message_is_waited(storage: Storage, message: str, wait: float) -> None:
    sleeps = Sleeps()
    with fake_llm() as fake:
        fake.then(f.rate_limited(None, message), f.answer("Fine."))
        assert _text(_gateway(storage, sleeps=sleeps)).value == "Fine."
    assert sleeps.calls == [pytest.approx(wait, abs=0.01)]


@pytest.mark.parametrize(
    ("step", "why"),
    [
        # Google's per-day quota reads as the per-minute one and names a wait: only its quotaId says "day".
        (f.google_quota("GenerateRequestsPerDayPerProjectPerModel-FreeTier", "36s"), "quota that resets later"),
        (f.google_quota(retry_delay="600s"), "asked to wait 600 s"),
        (f.google_quota(retry_delay=None), "no quota or credits left"),  # out of quota, no wait named: a top-up
    ],
    ids=["per-day", "wait too long", "no wait"],
)
def test_a_google_quota_the_run_cannot_wait_out_fails_at_once(storage: Storage, step: Any, why: str) -> None:
    sleeps = Sleeps()
    with fake_llm() as fake:
        fake.then(step)
        with pytest.raises(LLMRateLimited, match=why) as caught:
            _text(_gateway(storage, sleeps=sleeps))
    assert len(fake.requests) == 1 and sleeps.calls == [] and caught.value.exit_code == 75
    assert "You exceeded your current quota" in _failed(storage)[0].error  # the provider's words kept


def test_a_body_that_is_not_json_is_retried_then_reported_and_recorded(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.malformed(), f.answer("Fine."))
        assert _text(_gateway(storage)).value == "Fine."
    with fake_llm() as fake:
        fake.then(*(f.malformed() for _ in range(5)))
        with pytest.raises(LLMUnavailable, match="not JSON"):
            _text(_gateway(storage))
    assert _failed(storage)[-1].error_type == "LLMUnavailable"


# ---------------------------------------------------------------- parameters a model takes in another form


def test_a_reasoning_model_is_asked_with_max_completion_tokens_and_its_default_temperature(storage: Storage) -> None:
    """OpenAI's gpt-5 and o-series, asked directly (not through OpenRouter), refuse max_tokens and any temperature
    but 1 with a 400: every call of the default PMs' openai/gpt-5.1 failed for good."""
    gateway = _gateway(storage)
    with fake_llm() as fake:
        fake.behaviour = f.reasoning_model_params()
        first = _ask(gateway)
        second = _text(gateway)
    assert not first.repaired and second.value
    sent = [({k for k in ("max_tokens", "max_completion_tokens", "temperature") if k in r}) for r in fake.requests]
    assert sent == [
        {"max_tokens", "temperature"},
        {"max_completion_tokens", "temperature"},
        {"max_completion_tokens"},
        {"max_completion_tokens"},  # remembered: the next call is asked so at once
    ]
    assert fake.requests[2]["max_completion_tokens"] == 1000
    assert _failed(storage) == [] and [c.attempts for c in _done(storage)] == [3, 1]


def test_a_parameter_refused_again_after_it_was_changed_is_a_final_refusal_not_a_loop(storage: Storage) -> None:
    refusal = f.reasoning_model_params()
    with fake_llm() as fake:
        fake.behaviour = lambda req: refusal({**req, "max_tokens": 1})  # refuses max_tokens whatever is sent
        with pytest.raises(LLMRequestRejected, match="max_completion_tokens"):
            _text(_gateway(storage))
    assert len(fake.requests) == 2 and _failed(storage)[0].error_type == "LLMRequestRejected"


# ---------------------------------------------------------------- structured output by capability


def test_a_refused_json_schema_falls_back_to_json_object_then_text_and_is_remembered(storage: Storage) -> None:
    gateway = _gateway(storage)
    with fake_llm() as fake:
        fake.behaviour = f.refuses_format("json_schema", "json_object")
        first = _ask(gateway)
        second = _ask(gateway)
    assert not first.repaired and not second.repaired
    kinds = [(r.get("response_format") or {}).get("type", "text") for r in fake.requests]
    assert kinds == ["json_schema", "json_object", "text", "text"]  # the second ask starts where the first ended
    assert "satisfies this JSON schema exactly" in fake.requests[2]["messages"][-1]["content"]
    failed = _failed(storage)
    assert [(e.error_type, e.response_mode) for e in failed] == [
        ("StructuredOutputRefused", "json_schema"),
        ("StructuredOutputRefused", "json_object"),
    ]
    assert "DeepInfra" in failed[0].error and "not supported" in failed[0].error
    assert [c.response_mode for c in _done(storage)] == ["text", "text"]
    assert "json_object refused" in (_done(storage)[0].note or "")
    assert gateway.response_modes == {("fake", "m/pm"): "text"}


@pytest.mark.parametrize("style", ["anthropic", "openai"])
def test_a_strict_schema_refused_for_a_bound_keyword_is_asked_again_strict_with_its_core(
    storage: Storage, style: str
) -> None:
    """Anthropic's strict mode refuses minLength, maxLength, maxItems and numeric bounds: the gateway stepped down to
    json_object, where no enum nor type is enforced. Now it asks strict again with the schema's core, the bounds in
    words, and remembers it."""
    gateway = _gateway(storage)
    good = '{"instrument": "TLT", "conviction": -1, "thesis": "duration"}'
    with fake_llm() as fake:
        fake.behaviour = f.refuses_bounds(style, good)
        first, second = _ask(gateway), _ask(gateway)
    assert (first.value, second.value) == (Pitch(instrument="TLT", conviction=-1, thesis="duration"),) * 2
    formats = [r.get("response_format") or {} for r in fake.requests]
    assert [(x.get("type"), x.get("json_schema", {}).get("strict")) for x in formats] == [("json_schema", True)] * 3
    core = formats[1]["json_schema"]["schema"]
    assert f._bounds_in(core) == [] and core["properties"]["instrument"]["enum"] == ["SPY", "TLT", "GLD"]
    assert "at least -2; at most 2" in core["properties"]["conviction"]["description"]
    assert f._bounds_in(formats[0]["json_schema"]["schema"])  # the whole schema was asked first
    [refused] = _failed(storage)
    assert (refused.error_type, refused.response_mode) == ("StructuredOutputRefused", "json_schema")
    assert ("is not supported" if style == "anthropic" else "is not permitted") in refused.error
    assert [c.response_mode for c in _done(storage)] == ["json_schema_core"] * 2
    assert "asked again in json_schema_core mode" in (_done(storage)[0].note or "")
    assert gateway.response_modes == {("fake", "m/pm"): "json_schema_core"}


def test_a_bound_the_core_schema_only_says_is_checked_and_repaired_naming_it(storage: Storage) -> None:
    gateway = _gateway(storage)
    gateway.response_modes[("fake", "m/pm")] = "json_schema_core"
    with fake_llm() as fake:
        fake.then(
            f.answer('{"instrument": "SPY", "conviction": 5, "thesis": "all in"}'),
            f.answer('{"instrument": "SPY", "conviction": 2, "thesis": "all in"}'),
        )
        answer = _ask(gateway)
    assert answer.repaired and answer.value.conviction == 2
    assert "conviction" in fake.requests[1]["messages"][-1]["content"]
    assert "less than or equal to 2" in fake.requests[1]["messages"][-1]["content"]


def test_a_refusal_of_the_format_itself_skips_the_core_schema(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.behaviour = f.refuses_format("json_schema")
        _ask(_gateway(storage))
    kinds = [(r.get("response_format") or {}).get("type", "text") for r in fake.requests]
    assert kinds == ["json_schema", "json_object"]


def test_a_404_about_structured_outputs_steps_down_too_but_a_plain_404_does_not(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.error_body(404, 404, "No endpoints found that support the requested parameters: response_format"))
        answer = _ask(_gateway(storage))
    assert not answer.repaired and _done(storage)[0].response_mode == "json_object"
    with fake_llm() as fake:
        fake.then(f.error_body(404, 404, "No endpoints found for m/pm"))
        with pytest.raises(LLMRequestRejected) as caught:
            _ask(_gateway(storage))
    assert not isinstance(caught.value, StructuredOutputRefused)


OPENROUTER = "https://openrouter.ai/api/v1"


def test_openrouter_is_asked_to_route_only_to_providers_honouring_the_format(storage: Storage) -> None:
    # Without `provider.require_parameters` OpenRouter may hand a json_schema request to a provider of the model that
    # ignores the format, and the prose it answers costs a repair (or the role's week).
    with fake_llm(OPENROUTER) as fake:
        fake.behaviour = f.routed("json_schema", "json_object")
        answer = _ask(_gateway(storage, OPENROUTER))
    assert not answer.repaired and len(fake.requests) == 1
    assert fake.requests[0]["provider"] == {"require_parameters": True}
    assert fake.requests[0]["response_format"]["type"] == "json_schema"


def test_openrouter_with_no_provider_honouring_a_format_steps_down_to_the_prompt(storage: Storage) -> None:
    with fake_llm(OPENROUTER) as fake:
        fake.behaviour = f.routed()
        answer = _ask(_gateway(storage, OPENROUTER))
    kinds = [(r.get("response_format") or {}).get("type", "text") for r in fake.requests]
    # json_schema asked once more without temperature, which require_parameters counts too (a reasoning model's
    # endpoints take none: tests/test_openrouter_temperature_routing.py); refused again, the format is what no
    # endpoint takes.
    assert kinds == ["json_schema", "json_schema", "json_object", "text"]
    # The format gone, nothing is left to require: any provider of the model may answer the prompt's JSON.
    assert [r.get("provider") for r in fake.requests] == [{"require_parameters": True}] * 3 + [None]
    assert not answer.repaired and _done(storage)[0].response_mode == "text"


def test_a_provider_configured_without_structured_outputs_is_asked_with_json_object_first(storage: Storage) -> None:
    # models.yaml `structured_outputs: false`: read from the client's contract (ProviderClient), not with a getattr
    # whose default would have asked such a server with json_schema first.
    with fake_llm():
        answered = _ask(_gateway(storage, structured_outputs=False))
    assert not answered.repaired and [c.response_mode for c in _done(storage)] == ["json_object"]


def test_the_fallback_chain_against_the_loopback_server(storage: Storage) -> None:
    with FakeOpenAIServer() as server:
        server.behaviour = f.refuses_format("json_schema", "json_object")
        answer = _ask(_gateway(storage, server.base_url))
        server.behaviour = None
        server.then(f.truncated(), f.think_then())
        repaired = _ask(_gateway(storage, server.base_url))
    assert not answer.repaired and repaired.repaired
    assert [r["max_tokens"] for r in server.requests[-2:]] == [1000, 2000]
    assert [c.response_mode for c in _done(storage)] == ["text", "json_schema"]


def test_the_loopback_server_sends_faults_byte_for_byte(storage: Storage) -> None:
    with FakeOpenAIServer() as server:
        server.then(f.malformed(), f.error_mid_answer(code=None))
        assert _text(_gateway(storage, server.base_url))  # both asked again within the call (an upstream's failure)
    assert len(server.requests) == 3


def test_an_error_inside_a_200_is_retried_when_its_code_is_a_5xx(storage: Storage) -> None:
    """OpenRouter relays an upstream failure in a 200 whose error.code mirrors the status: a 502 is retried within
    the call like an HTTP 502 (it was an LLMUpstreamError at once)."""
    with fake_llm() as fake:
        fake.then(f.error_body(200, 502, "Provider returned error", "Together", "upstream timeout"))
        assert _text(_gateway(storage))
    assert len(fake.requests) == 2 and _failed(storage) == []


def test_an_error_inside_a_200_with_a_4xx_code_is_final(storage: Storage) -> None:
    """Seen in a trial: HTTP 200 with {"error": {"code": 400, "message": "...maximum context length..."}} was an
    LLMUpstreamError (temporary) whatever its code, so the run exited 75 on every rerun, past the week's last close.
    A 4xx code is a refusal, as an HTTP 400 is: final, with the provider's reason."""
    too_long = "This endpoint's maximum context length is 8192 tokens. However, you requested about 9000 tokens"
    with fake_llm() as fake:
        fake.then(f.error_body(200, 400, too_long))
        with pytest.raises(LLMContextExceeded) as caught:  # a prompt past the window, said as what it is
            _text(_gateway(storage))
    assert len(fake.requests) == 1
    assert "maximum context length is 8192 tokens" in str(caught.value)
    assert not isinstance(caught.value, TemporaryError)
    [failed] = _failed(storage)
    assert failed.error_type == "LLMContextExceeded"


def test_an_error_inside_a_200_with_code_402_or_408_is_temporary(storage: Storage) -> None:
    with fake_llm() as fake:
        fake.then(f.error_body(200, 408, "Request timed out"))
        assert _text(_gateway(storage))  # retried
        fake.then(f.error_body(200, 402, "Insufficient credits"))
        with pytest.raises(LLMUnavailable, match="insufficient credits at fake: add credits"):
            _text(_gateway(storage))
    assert len(fake.requests) == 3
