"""`llmtrade schema COMMAND` publishes the JSON Schema of each `--json` output, and the output obeys it."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import assert_obeys

runner = CliRunner()


def _schema(*command: str) -> str:
    result = runner.invoke(app, ["schema", *command])
    assert result.exit_code == 0, result.output
    return result.stdout


def _json(*command: str) -> Any:
    result = runner.invoke(app, [*command, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _valid(document: Any, *command: str) -> None:
    assert_obeys(document, _schema(*command))


def test_every_json_output_of_the_week_validates_against_its_published_schema(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00-05:00")
    _valid(_json("market", "snapshot", "--offline"), "market", "snapshot")
    _valid(_json("research"), "research")
    weekly = _json("run-weekly")
    _valid(weekly, "run-weekly")
    assert weekly["orders"] and weekly["mode"] == "offline"
    complete = _json("run-weekly")
    assert complete["status"] == "complete"
    _valid(complete, "run-weekly")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T12:00:00-05:00")
    _valid(_json("checkpoint", "12:00"), "checkpoint")
    status = _json("status")
    _valid(status, "status")
    assert {a["account_id"] for a in status["accounts"]} >= {"acct_1", "acct_5"}
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:31:00-05:00")
    postmortem = _json("postmortem", "--week", "2026-01-07")
    _valid(postmortem, "postmortem")
    assert postmortem["written_now"] is True


def test_the_council_output_validates_against_its_schema(cli_env: dict[str, str]) -> None:
    council = _json("council", "Is the dollar strong?", "--offline")
    _valid(council, "council")
    assert council["verdict"] and council["standings"]


def test_a_schema_catches_a_broken_output(cli_env: dict[str, str]) -> None:
    council = _json("council", "Is the dollar strong?", "--offline")
    del council["verdict"]
    with pytest.raises(jsonschema.ValidationError):
        _valid(council, "council")


def test_an_unknown_command_is_a_usage_error_that_lists_the_commands() -> None:
    result = runner.invoke(app, ["schema", "nonsense"])
    assert result.exit_code == 2
    assert "no JSON schema for 'nonsense'" in result.stderr
    for command in ("run-weekly", "checkpoint", "postmortem", "status", "council", "run-due"):
        assert command in result.stderr
    typo = runner.invoke(app, ["schema", "statsu"])
    assert typo.exit_code == 2 and "no JSON schema for 'statsu': did you mean status? commands with one" in typo.stderr


def test_the_small_read_only_commands_publish_schemas_their_json_obeys(cli_env: dict[str, str]) -> None:
    config = _json("config", "show")
    _valid(config, "config", "show")
    assert config["environment"]["DATABASE_URL"].startswith("set")  # the test database, masked
    database = _json("db", "status")
    _valid(database, "db", "status")
    assert database["pending"] == [] and database["events"] >= 0
    schedule = _json("schedule", "show")
    _valid(schedule, "schedule", "show")
    assert len(schedule) == 12 and {"weekly", "checkpoint", "postmortem"} >= {f["kind"] for f in schedule}
    kill_switch = _json("trading", "status")
    _valid(kill_switch, "trading", "status")
    assert kill_switch == {"enabled": True, "reason": ""}


def test_a_schema_named_with_its_option_is_found_as_the_command_is_typed() -> None:
    """`schema backtest delete --sweep` (the command as typed) was "No such option: --sweep", exit 2: only the quoted
    `schema "backtest delete --sweep"` found the document published under that name."""
    typed = runner.invoke(app, ["schema", "backtest", "delete", "--sweep"])
    assert typed.exit_code == 0, typed.output
    assert typed.stdout == _schema("backtest delete --sweep") and "SweepDeletion" in typed.stdout
