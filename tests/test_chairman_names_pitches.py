"""The chairman's words name the PM of each pitch it cites, for the reader.

A user's trial: under the committee's tables, which name PMs, the chairman's line said "Pitch 4 scored best": the
neutral label it was shown (the anonymous review needs it in the prompt), which the reader cannot map to anyone. The
run's output, its --json and the HTML report now say "Pitch 4 (gpt)"; the recorded DecisionMade keeps what the
chairman said."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.committee import DecisionMade
from llmtrade.domain.events import StoredEvent
from tests.support import WEDNESDAY_8AM, stored_events

runner = CliRunner()
CITED = re.compile(r"Pitch (\d+) \((\w+)\) scored best")


def test_a_neutral_label_is_followed_by_its_pm_and_only_a_label_shown_is() -> None:
    from llmtrade.council.anonymize import unmasked

    names = {"Pitch 1": "gpt", "Pitch 4": "grok"}
    said = "Pitch 4 scored best; pitch 1 was close. Pitch 41 is no label, nor is Pitch 2; pitched 1 way."
    assert unmasked(said, names) == (
        "Pitch 4 (grok) scored best; pitch 1 (gpt) was close. Pitch 41 is no label, nor is Pitch 2; pitched 1 way."
    )


def _named(url: str, decision: StoredEvent) -> dict[str, str]:
    """The chairman's labels by the PM whose pitch each stood for, from the records."""
    made = DecisionMade.from_event(decision)
    pitches = [e.payload["pitch"] for e in stored_events(url, type="PitchSubmitted") if e.week_id == decision.week_id]
    pm_of = {p["idea_id"]: p["pm_id"] for p in pitches}
    return {label: pm_of[idea] for label, idea in made.labels.items()}


def test_the_chairmans_line_names_the_pm_in_the_run_its_json_and_the_report(
    cli_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)

    dry = runner.invoke(app, ["run-weekly", "--offline", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert CITED.search(dry.stdout), dry.stdout  # the offline chairman cites the best-scored pitch by its label

    result = runner.invoke(app, ["run-weekly", "--offline", "--json"])
    assert result.exit_code == 0, result.output
    [decision] = stored_events(cli_env["DATABASE_URL"], type="DecisionMade")
    said = decision.payload["decision"]["rationale"]
    assert re.search(r"Pitch \d+ scored best", said) and not CITED.search(said)  # the record: as the chairman said
    names = _named(cli_env["DATABASE_URL"], decision)
    report = json.loads(result.stdout)
    [(label, pm)] = CITED.findall(report["decision"]["rationale"])
    assert names[f"Pitch {label}"] == pm  # the PM whose pitch the label stood for

    page = tmp_path / "report.html"
    assert runner.invoke(app, ["report", "-o", str(page)]).exit_code == 0
    assert f"Pitch {label} ({pm}) scored best" in page.read_text()
