"""`llmtrade council`: offline on a fresh machine, live against any base URL, anonymous rankings."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import load_config
from tests.fakes.llm_transport import BASE_URL, FakeLLM
from tests.fakes.openai_server import completion_for
from tests.support import going_live, stored_events

runner = CliRunner()
QUERY = "Is a 60/40 portfolio still sensible?"
MEMBERS = [pm.model for pm in load_config(None).config.models.pms]
CHAIRMAN = load_config(None).config.models.chairman.model


def _answer_text(model: str) -> str:
    # Distinct per model and free of any model name, as a real answer would usually be.
    return f"Opinion {hashlib.sha256(model.encode()).hexdigest()[:8]}: it depends on rates."


def _answers(body: dict[str, Any]) -> dict[str, Any]:
    reply = completion_for(body)
    if "response_format" not in body:
        reply["choices"][0]["message"]["content"] = _answer_text(body["model"])
    return reply


@pytest.fixture
def live(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> FakeLLM:
    monkeypatch.setenv("LLMTRADE_LLM_API_KEY", "sk-local")
    with going_live(monkeypatch, _answers, market=None, delay=0.02) as fake:
        yield fake


def test_council_runs_offline_with_a_loud_banner_and_records_everything(cli_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["council", QUERY, "--json"])
    assert result.exit_code == 0, result.output
    assert "OFFLINE MODE: rules provider" in result.stderr
    assert "OPENROUTER_API_KEY" in result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "offline"
    assert [a["model"] for a in report["answers"]] == MEMBERS
    assert len(report["rankings"]) == 4 and all(len(r["critiques"]) == 3 for r in report["rankings"])
    assert sorted(row["model"] for row in report["standings"]) == sorted(MEMBERS)
    assert report["verdict"].startswith("[offline rules synthesis]")
    assert report["usage"]["calls"] == 0 and report["usage"]["rules_answers"] == 9  # offline: no model called
    types = [e.type for e in stored_events(cli_env["DATABASE_URL"], run_id=report["run_id"])]
    assert types.count("LLMCallCompleted") == 9
    assert types.count("CouncilMemberAnswered") == 4 and types.count("CouncilMemberRanked") == 4
    for expected in ("RunStarted", "CouncilConvened", "CouncilRankingsAggregated", "CouncilConcluded", "RunFinished"):
        assert expected in types
    assert types.count("StageCompleted") == 3


def test_the_same_query_offline_gives_the_same_council(cli_env: dict[str, str]) -> None:
    first = json.loads(runner.invoke(app, ["council", QUERY, "--offline", "--json"]).stdout)
    second = json.loads(runner.invoke(app, ["council", QUERY, "--offline", "--json"]).stdout)
    for key in ("answers", "rankings", "standings", "verdict"):
        assert first[key] == second[key]


def test_council_runs_live_against_the_base_url_with_each_stage_in_parallel(live: FakeLLM) -> None:
    result = runner.invoke(app, ["council", QUERY, "--json"])
    assert result.exit_code == 0, result.output
    assert f"LIVE MODE: every provider points at LLMTRADE_LLM_BASE_URL={BASE_URL}" in result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "live"
    assert len(live.requests) == 9
    assert set(live.authorizations) == {"Bearer sk-local"}
    assert live.peak_in_flight == 4  # four answers (then four rankings) in flight at once
    assert [r["model"] for r in live.requests[:4]] == MEMBERS
    assert live.requests[-1]["model"] == CHAIRMAN
    assert report["usage"]["prompt_tokens"] > 0


def test_reviewers_see_the_others_answers_but_never_their_own_nor_any_model_name(live: FakeLLM) -> None:
    result = runner.invoke(app, ["council", QUERY, "--json"])
    assert result.exit_code == 0, result.output
    ranking_requests = [r for r in live.requests if "response_format" in r]
    assert sorted(r["model"] for r in ranking_requests) == sorted(MEMBERS)
    label_maps = []
    for body in ranking_requests:
        prompt = "\n".join(m["content"] for m in body["messages"])
        reviewer = body["model"]
        assert _answer_text(reviewer) not in prompt
        for other in MEMBERS:
            if other != reviewer:
                assert _answer_text(other) in prompt
        for name in [*MEMBERS, CHAIRMAN, "gpt", "gemini", "sonnet", "grok"]:
            assert name not in prompt
        schema = body["response_format"]["json_schema"]["schema"]
        per_label = schema["$defs"]["Assessments"]  # one required property per label shown, no others
        assert len(per_label["required"]) == 3 == len(per_label["properties"])
        assert per_label["additionalProperties"] is False
    report = json.loads(result.stdout)
    for ranking in report["rankings"]:
        assert ranking["reviewer"] not in ranking["critiques"]
        assert len(ranking["critiques"]) == len(MEMBERS) - 1
        label_maps.append(tuple(ranking["labels"].items()))
    assert len(set(label_maps)) > 1  # letters shuffled per reviewer, not one shared key
    chairman_prompt = "\n".join(m["content"] for m in live.requests[-1]["messages"])
    assert all(name not in chairman_prompt for name in [*MEMBERS, CHAIRMAN])
    assert all(_answer_text(m) in chairman_prompt for m in MEMBERS)


def test_a_member_that_fails_is_left_out_and_the_run_is_marked_degraded(live: FakeLLM, cli_env: dict[str, str]) -> None:
    def refuse_grok(body: dict[str, Any]) -> dict[str, Any] | httpx.Response:
        if body["model"] == "x-ai/grok-4":
            return httpx.Response(404, json={"error": {"message": "model not found"}})
        return httpx.Response(200, json=_answers(body))

    live.then(*(refuse_grok for _ in range(4)))
    result = runner.invoke(app, ["council", QUERY, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [f["model"] for f in report["failures"]] == ["x-ai/grok-4"]
    assert "model not found" in report["failures"][0]["error"]
    assert len(report["answers"]) == 3 and all(len(r["critiques"]) == 2 for r in report["rankings"])
    [finished] = stored_events(cli_env["DATABASE_URL"], type="RunFinished", run_id=report["run_id"])
    assert finished.payload["degraded"] is True


def test_replay_reproduces_a_live_council_without_any_request(live: FakeLLM) -> None:
    first = json.loads(runner.invoke(app, ["council", QUERY, "--json"]).stdout)
    sent = len(live.requests)
    replayed = runner.invoke(app, ["council", QUERY, "--replay", "--json"])
    assert replayed.exit_code == 0, replayed.output
    again = json.loads(replayed.stdout)
    assert len(live.requests) == sent
    assert again["mode"] == "replay"
    assert (again["answers"], again["standings"], again["verdict"]) == (
        first["answers"],
        first["standings"],
        first["verdict"],
    )
    miss = runner.invoke(app, ["council", "A question never asked", "--replay"])
    assert miss.exit_code == 1
    assert "--replay: no cached answer for the council_answer call" in miss.stderr


def test_an_empty_query_and_conflicting_flags_are_refused(cli_env: dict[str, str]) -> None:
    assert runner.invoke(app, ["council", "  "]).exit_code == 2
    both = runner.invoke(app, ["council", QUERY, "--offline", "--replay"])
    assert both.exit_code == 2 and "exclude each other" in both.stderr
