"""The checkpoint's per-ask shortcuts (issue 13): each gives what the long way gave, and a changed input a fresh value.

A rules reply validated once per (class, text) and shared only for classes holding immutable values; a reply's answer
and a watched indicator's line parts kept per object; path quotes, chat messages and requests built unvalidated only
when validation would keep their values as they are (else validated, and refused as validation refuses)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from llmtrade.agents import checkpointer
from llmtrade.agents.checkpointer import answer_schema, reply_text
from llmtrade.agents.prompting import as_messages, message
from llmtrade.domain.checkpoints import CheckpointAnswer
from llmtrade.domain.committee import Threshold, WatchedIndicator
from llmtrade.domain.market import Quote
from llmtrade.llm.offline_path import _shareable, parsed, request_of
from llmtrade.llm.structured import AnswerInvalid, strict_schema
from llmtrade.llm.types import ChatMessage, ChatRequest
from llmtrade.market.quote_provider import quote_of
from llmtrade.prompts.renderer import RenderedPrompt


class Flat(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbol: str
    conviction: int


class Listing(BaseModel):
    model_config = ConfigDict(frozen=True)

    symbols: list[str]


class Loose(BaseModel):
    symbol: str


def test_only_classes_of_immutable_values_are_shared() -> None:
    assert _shareable(answer_schema(2)) and _shareable(answer_schema(-1)) and _shareable(Flat)
    assert not _shareable(Listing)  # a list inside: a caller could change what another is given
    assert not _shareable(Loose)  # not frozen


def test_a_rules_reply_is_validated_once_per_class_and_text() -> None:
    schema = answer_schema(2)
    stay = reply_text(CheckpointAnswer(action="STAY", conviction_after=2, reason_delta="[offline rules] holds"))
    first = parsed(stay, "rules", schema)
    assert parsed(stay, "rules", schema) is first  # shared
    assert first == schema.model_validate_json(stay)
    # Another text, or the same text for another position's class: validated afresh.
    reduce = reply_text(CheckpointAnswer(action="REDUCE", conviction_after=1, reason_delta="[offline rules] broke"))
    other = parsed(reduce, "rules", schema)
    assert other is not first and other == schema.model_validate_json(reduce)
    again = parsed(stay, "rules", answer_schema(1))
    assert type(again) is answer_schema(1) and again is not first
    # A model's answer (not the rules') and an unshareable class: validated at every call.
    assert parsed(stay, "live", schema) is not first
    text = '{"symbols":["SPY"]}'
    assert parsed(text, "rules", Listing) is not parsed(text, "rules", Listing)


def test_an_invalid_rules_reply_is_refused_every_time() -> None:
    schema = answer_schema(2)
    bad = '{"move":{"action":"EXIT","conviction_after":2},"reason_delta":"x"}'  # EXIT must go to 0
    for _ in range(2):
        with pytest.raises(AnswerInvalid):
            parsed(bad, "rules", schema)


def _watched(name: str, value: float, why: str = "the trend") -> WatchedIndicator:
    return WatchedIndicator(name=name, threshold=Threshold(indicator="rsi_14", op="<", value=value), why=why)


def _user_text(watched: list[WatchedIndicator], values: dict[str, float | None]) -> str:
    variables = {
        "instrument": "SPY",
        "direction": "LONG",
        "conviction": 2,
        "thesis": ["up"],
        "watched": watched,
        "values": values,
        "pnl_pct": 0.01,
        "time": "12:00",
        "memory": (),
        "close_only": False,
    }
    return checkpointer._user_text(variables)


def test_a_watched_line_follows_its_indicator_and_the_value_now() -> None:
    rsi = _watched("RSI", 70.0)
    first = _user_text([rsi], {"rsi_14": 55.0})
    line = f"- RSI: {rsi.threshold.describe()} — now 55.00 (the trend)"
    assert line in first.splitlines()
    assert "now 61.50 (the trend)" in _user_text([rsi], {"rsi_14": 61.5})  # the same object, a new value
    assert "now n/a (the trend)" in _user_text([rsi], {})
    # Another indicator object (a new week's pitch): its own line, not the kept one.
    other = _watched("RSI", 65.0, "momentum")
    assert f"- RSI: {other.threshold.describe()} — now 55.00 (momentum)" in _user_text([other], {"rsi_14": 55.0})


def test_a_replys_answer_is_its_own() -> None:
    schema = answer_schema(2)
    for action, after in (("STAY", 2), ("REDUCE", 1), ("EXIT", 0)):
        text = reply_text(CheckpointAnswer(action=action, conviction_after=after, reason_delta=f"why {action}"))
        reply = parsed(text, "rules", schema)
        answer = checkpointer._ANSWERS.of(reply, checkpointer._answer_of)
        assert answer == reply.to_answer()
        assert (answer.action, answer.conviction_after, answer.reason_delta) == (action, after, f"why {action}")


AT = datetime(2016, 1, 6, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(("kind", "synthetic"), [("synthetic-path", True), ("close", False), ("close", True)])
def test_a_quote_built_unvalidated_is_the_quote_validation_makes(kind: str, synthetic: bool) -> None:
    made = quote_of("SPY", 101.25, AT, "synthetic", kind, synthetic=synthetic)  # type: ignore[arg-type]
    valid = Quote(symbol="SPY", price=101.25, as_of=AT, provider="synthetic", kind=kind, synthetic=synthetic)  # type: ignore[arg-type]
    assert made == valid
    assert list(made.__dict__.items()) == list(valid.__dict__.items())
    assert made.model_fields_set == valid.model_fields_set
    assert made.model_dump_json() == valid.model_dump_json()


@pytest.mark.parametrize(
    ("price", "at"),
    [(0.0, AT), (-1.0, AT), (math.nan, AT), (math.inf, AT), (101.0, AT.replace(tzinfo=None))],
)
def test_a_quote_with_a_value_quote_refuses_is_refused(price: float, at: datetime) -> None:
    with pytest.raises(ValidationError):
        quote_of("SPY", price, at, "synthetic", "synthetic-path", synthetic=True)
    with pytest.raises(ValidationError):
        quote_of("SPY", 101.0, AT, "synthetic", "made-up", synthetic=True)  # type: ignore[arg-type]


def test_messages_and_requests_are_what_validation_makes() -> None:
    prompt = RenderedPrompt(system="You judge.", user="Decide.")
    system, user = as_messages(prompt)
    assert (system, user) == (
        ChatMessage(role="system", content="You judge."),
        ChatMessage(role="user", content="Decide."),
    )
    assert as_messages(prompt)[0] is system  # the same system text object: its message kept
    assert as_messages(RenderedPrompt(system="Other.", user="Decide."))[0].content == "Other."
    with pytest.raises(ValidationError):
        message("robot", "hi")
    output = answer_schema(2)
    for temperature, max_tokens in ((0.7, 4000), (1, 900), (0.0, 50)):
        made = request_of("m/owner", (system, user), temperature, max_tokens, output)
        valid = ChatRequest(
            model="m/owner",
            messages=(system, user),
            temperature=temperature,
            max_tokens=max_tokens,
            schema_name=output.__name__,
            json_schema=strict_schema(output),
        )
        assert made == valid and list(made.__dict__.items()) == list(valid.__dict__.items())
        assert made.model_fields_set == valid.model_fields_set
        assert made.model_dump_json() == valid.model_dump_json()
        assert made.json_schema is not strict_schema(output)  # a copy, as validation makes: the kept one is not exposed
    free = request_of("m/owner", (user,), 0.2, 10, None)
    assert free == ChatRequest(model="m/owner", messages=(user,), temperature=0.2, max_tokens=10)


def test_a_stage_report_is_the_one_validation_makes() -> None:
    from llmtrade.pipeline.context import StageReport
    from llmtrade.pipeline.pipeline import _report

    for name, loaded, seconds in (("ask", False, 0.25), ("prepare", True, 0.0)):
        made = _report(name, loaded, seconds)
        valid = StageReport(name=name, outcome="loaded" if loaded else "ran", seconds=seconds)
        assert made == valid and made.model_fields_set == valid.model_fields_set
        assert made.model_dump_json() == valid.model_dump_json()
