"""Only final failures are frozen into the week (issue 11, item 2).

A provider that is down for a while (here: a 429 whose Retry-After the run cannot wait out, the
TemporaryError family) must not degrade the week for good: before the job's retry deadline the run
stops with exit 75 and stores nothing final, a rerun asks only the roles without an answer, and past
the deadline the stage goes on degraded, naming the missing inputs in the report and in events. An
answer still invalid after its repair is final at once. The provider is the respx fake of an
OpenAI-compatible server (tests/fakes/llm_transport.py), and every request it gets is counted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.fakes import llm_faults as f
from tests.fakes.committee_answers import committee_answer
from tests.fakes.llm_faults import Fault
from tests.fakes.llm_transport import FakeLLM
from tests.fakes.openai_server import schema_name
from tests.support import WEDNESDAY_8AM, stored_events

runner = CliRunner()
WEEK = "2026-01-07"
BEFORE_DEADLINE = "2026-01-07T08:20:00-05:00"  # the default deadline is the first checkpoint, 09:00
PAST_DEADLINE = "2026-01-07T09:05:00-05:00"
GROK = "x-ai/grok-4"
SONAR = "perplexity/sonar-pro"  # research provider A, and no other role
DOWN = f.rate_limited("86400", "Rate limit exceeded: free-models-per-day")


def _schema(body: dict[str, Any]) -> str:
    return schema_name(body)


def _down_for(model: str, schema: str, step: Callable[[dict[str, Any]], Fault] = DOWN) -> Callable[..., Fault]:
    """`model`'s requests for answers of `schema` get `step`; everything else a good answer."""

    def route(body: dict[str, Any]) -> Fault:
        if body["model"] == model and _schema(body) == schema:
            return step(body)
        return Fault(200, committee_answer(body))

    return route


def _asked(fake: FakeLLM, since: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for body in fake.requests[since:]:
        counts[_schema(body)] = counts.get(_schema(body), 0) + 1
    return counts


def _stream(url: str, part: str) -> list[str]:
    return [e.type for e in stored_events(url, stream=f"week:{WEEK}:{part}")]


def _run(monkeypatch: pytest.MonkeyPatch, at: str, *args: str) -> Any:
    monkeypatch.setenv("LLMTRADE_NOW", at)
    return runner.invoke(app, ["run-weekly", *args])


# ---------------------------------------------------------------- peer review


def test_reviews_lost_to_an_outage_are_asked_again_and_the_review_matrix_is_full(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    live.behaviour = _down_for(GROK, "ReviewAnswer")
    first = _run(monkeypatch, WEDNESDAY_8AM)
    assert first.exit_code == 75, first.output
    assert "peer_review: waiting for" in first.output and "RateLimited" in first.output
    assert _stream(url, "reviews") == []  # nothing final: a rerun is not told to load an empty matrix
    assert _stream(url, "decision") == []
    assert _stream(url, "reviews:held").count("AnswerHeld") == 9  # grok's 3 of 12 reviews are waiting
    [deferred] = stored_events(url, type="StageDeferred")
    assert deferred.payload["stage"] == "peer_review" and len(deferred.payload["waiting"]) == 3
    assert all(w.endswith(":by:grok") for w in deferred.payload["waiting"])

    live.behaviour = None  # the provider is back
    before = len(live.requests)
    second = _run(monkeypatch, BEFORE_DEADLINE, "--json")
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert len(report["review_matrix"]) == 4 and all(len(row) == 3 for row in report["review_matrix"].values())
    assert not [d for d in report["degraded"] if "review" in d]
    assert {"research", "pitches"} <= set(report["resumed_stages"])
    # Only grok's three reviews and the chairman are paid for again.
    assert _asked(live, before) == {"ReviewAnswer": 3, "DecisionAnswer": 1}
    reviews = _stream(url, "reviews")
    assert reviews.count("ReviewSubmitted") == 12 and "ReviewFailed" not in reviews and "InputsMissing" not in reviews


def test_reviews_still_down_at_the_deadline_give_a_degraded_decision_that_names_them(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    live.behaviour = _down_for(GROK, "ReviewAnswer")
    assert _run(monkeypatch, WEDNESDAY_8AM).exit_code == 75
    before = len(live.requests)
    result = _run(monkeypatch, PAST_DEADLINE, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "grok" not in report["review_matrix"] and len(report["review_matrix"]) == 3
    [note] = [d for d in report["degraded"] if "still unavailable at the deadline" in d]
    assert note.count(":by:grok") == 3 and "chairman decides without them" in note
    assert _asked(live, before) == {"ReviewAnswer": 3, "DecisionAnswer": 1}  # asked once more, then given up
    [missing] = stored_events(url, type="InputsMissing")
    assert missing.payload["stage"] == "peer_review" and len(missing.payload["missing"]) == 3
    failed = stored_events(url, stream=f"week:{WEEK}:reviews", type="ReviewFailed")
    assert {e.payload["reviewer_pm_id"] for e in failed} == {"grok"}
    assert {e.payload["pitch_id"] for e in failed} == {f"{WEEK}:gpt", f"{WEEK}:gemini", f"{WEEK}:sonnet"}
    [done] = stored_events(url, type="WeekCompleted")
    assert done.payload["degraded"] and any(":by:grok" in n for n in done.payload["notes"])


def test_a_review_still_invalid_after_its_repair_is_final_at_once(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    live.behaviour = _down_for(GROK, "ReviewAnswer", f.answer("this is not the JSON you asked for"))
    result = _run(monkeypatch, WEDNESDAY_8AM, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "grok" not in report["review_matrix"]
    assert sum("review by grok" in d for d in report["degraded"]) == 3
    failed = stored_events(url, stream=f"week:{WEEK}:reviews", type="ReviewFailed")
    assert len(failed) == 3 and {e.payload["error_type"] for e in failed} == {"InvalidLLMOutput"}
    assert stored_events(url, type="StageDeferred") == [] and stored_events(url, type="InputsMissing") == []


def test_an_empty_review_matrix_is_never_silent(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_reviews(body: dict[str, Any]) -> Fault:
        return DOWN(body) if _schema(body) == "ReviewAnswer" else Fault(200, committee_answer(body))

    live.behaviour = no_reviews
    result = _run(monkeypatch, PAST_DEADLINE, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["review_matrix"] == {}
    assert any("empty review matrix" in d for d in report["degraded"])
    [missing] = stored_events(cli_env["DATABASE_URL"], type="InputsMissing")
    assert len(missing.payload["missing"]) == 12


# ---------------------------------------------------------------- pitches and research


def test_a_pitch_lost_to_an_outage_is_asked_again_alone(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    live.behaviour = _down_for(GROK, "PitchAnswer")
    first = _run(monkeypatch, WEDNESDAY_8AM)
    assert first.exit_code == 75, first.output
    assert "pitches: waiting for grok" in first.output
    assert _stream(url, "pitches") == [] and stored_events(url, type="PitchFailed") == []
    assert _stream(url, "pitches:held") == ["AnswerHeld"] * 3 + ["StageDeferred"]

    live.behaviour = None
    before = len(live.requests)
    second = _run(monkeypatch, BEFORE_DEADLINE, "--json")
    assert second.exit_code == 0, second.output
    report = json.loads(second.stdout)
    assert report["failed_pms"] == [] and len(report["pitches"]) == 4
    asked = _asked(live, before)
    assert asked["PitchAnswer"] == 1 and "ResearchFindings" not in asked
    assert _stream(url, "pitches").count("PitchSubmitted") == 4


def test_a_pitch_still_down_at_the_deadline_leaves_its_account_flat_and_says_why(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live.behaviour = _down_for(GROK, "PitchAnswer")
    result = _run(monkeypatch, PAST_DEADLINE, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["failed_pms"] == ["grok"]
    assert any("grok" in d and "still unavailable at the deadline" in d for d in report["degraded"])
    [missing] = stored_events(cli_env["DATABASE_URL"], type="InputsMissing")
    assert missing.payload == {**missing.payload, "stage": "pitches", "missing": ["grok"]}


def test_research_lost_to_an_outage_is_asked_again_alone(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    live.behaviour = _down_for(SONAR, "ResearchFindings")
    first = _run(monkeypatch, WEDNESDAY_8AM)
    assert first.exit_code == 75, first.output
    assert "research: waiting for A" in first.output
    assert _stream(url, "research") == [] and stored_events(url, type="ResearchProviderFailed") == []
    assert _asked(live, 0) == {"ResearchFindings": 2}  # no PM pitched on half the research

    live.behaviour = None
    before = len(live.requests)
    second = _run(monkeypatch, BEFORE_DEADLINE, "--json")
    assert second.exit_code == 0, second.output
    assert len(json.loads(second.stdout)["research"]) == 2
    assert _asked(live, before)["ResearchFindings"] == 1


def test_research_still_down_at_the_deadline_goes_on_with_the_packs_there_are(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live.behaviour = _down_for(SONAR, "ResearchFindings")
    result = _run(monkeypatch, PAST_DEADLINE, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert len(report["research"]) == 1
    assert any(d.startswith("research: no pack from A") for d in report["degraded"])
    [failed] = stored_events(cli_env["DATABASE_URL"], type="ResearchProviderFailed")
    assert failed.payload["label"] == "A" and failed.payload["error_type"] == "LLMRateLimited"


# ---------------------------------------------------------------- run-due


def test_run_due_retries_an_unfinished_weekly_run_on_its_next_wake_up(
    live: FakeLLM, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    live.behaviour = _down_for(GROK, "ReviewAnswer")
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    first = runner.invoke(app, ["run-due"])
    assert first.exit_code == 75, first.output
    live.behaviour = None
    before = len(live.requests)
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:05:00-05:00")
    second = runner.invoke(app, ["run-due", "--json"])
    assert second.exit_code == 0, second.output
    [ran] = json.loads(second.stdout)
    assert ran["job"] == f"weekly:{WEEK}" and len(ran["report"]["review_matrix"]) == 4
    assert _asked(live, before) == {"ReviewAnswer": 3, "DecisionAnswer": 1}
