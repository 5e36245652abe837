"""A week begun offline because a model's key is not set runs offline to its end (app/week_mode.py): cron is told, under
--quiet too, once a week. A trial set OPENROUTER_API_KEY while models.yaml named OPENROUTER_APIKEY: `-q run-weekly`
exited 0 and printed nothing, and the whole week ran on the rules provider."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app

runner = CliRunner()
BANNER = "OFFLINE MODE: rules provider, not model output (no key set: OPENROUTER_API_KEY (provider openrouter))"


def test_a_week_begun_offline_for_want_of_a_key_is_said_under_quiet_once(wednesday_week: str) -> None:
    first = runner.invoke(app, ["-q", "run-weekly"])
    assert first.exit_code == 0, first.output
    assert first.stderr.splitlines() == [BANNER]
    again = runner.invoke(app, ["-q", "run-weekly"])  # the week is complete: nothing run, nothing to say
    assert again.exit_code == 0 and again.stderr == "", again.output
    offline = runner.invoke(app, ["-q", "run-weekly", "--offline", "--dry-run"])  # offline as asked: no news
    assert offline.exit_code == 0 and offline.stderr == "", offline.output


def test_a_key_set_under_a_near_name_is_named_as_a_misspelt_api_key_env(
    wednesday_week: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cfg"
    assert runner.invoke(app, ["init", str(folder)]).exit_code == 0
    models = folder / "models.yaml"
    models.write_text(models.read_text().replace("api_key_env: OPENROUTER_API_KEY", "api_key_env: OPENROUTER_APIKEY"))
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-test")
    hint = "OPENROUTER_APIKEY (provider openrouter; OPENROUTER_API_KEY set: is models.yaml's api_key_env misspelt?)"
    # Said by `config validate` (a new user's trial found it said "configuration OK" and nothing else), by a dry run
    # under -q too, and by the run.
    validated = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert validated.exit_code == 0, validated.output
    assert (
        f"models.yaml api_key_env {hint} is not set: runs are offline (rules provider) until it is" in validated.stdout
    )
    banner = f"OFFLINE MODE: rules provider, not model output (no key set: {hint})"
    for args in (["run-weekly", "--dry-run"], ["run-weekly"]):
        result = runner.invoke(app, ["-q", "--config", str(folder), *args])
        assert result.exit_code == 0, result.output
        assert result.stderr.splitlines() == [banner], args


def test_a_weekly_run_that_does_not_complete_says_it_once_not_at_every_wake_up(wednesday_week: str) -> None:
    """A trial disabled trading: the weekly run stopped at its orders at each 5-minute wake-up, and each one printed the
    banner under -q again (a cron mail each time), though once a week is what it is for."""
    assert runner.invoke(app, ["trading", "disable"]).exit_code == 0
    first = runner.invoke(app, ["-q", "run-weekly"])
    assert BANNER in first.stderr.splitlines(), first.output
    again = runner.invoke(app, ["-q", "run-weekly"])  # the same week, run again: its orders still blocked
    assert BANNER not in again.stderr.splitlines(), again.output
