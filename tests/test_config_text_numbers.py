"""A value YAML reads as text where a setting takes a number, a switch or a date is told what YAML read, and only a
value that was quoted is told to be written without quotes.

Found by a new user's trial: `starting_cash: 100,000`, `starting_cash: $100000`, `max_open_positions: 09` and
`live_trading_enabled: yes` were each told "written without quotes", though none was quoted; and a quoted
`knowledge_cutoff: "2024-09-30"` was told "must be a date, YYYY-MM-DD (got '2024-09-30')", which it looks like."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import write_defaults

runner = CliRunner()
FLAT = "  - {id: acct_6, name: FLAT baseline, role: flat}"
BLOCK = "  - id: acct_6\n    name: FLAT baseline\n    role: flat\n    starting_cash: "

CASES = {
    "thousands separators": (
        "accounts.yaml",
        FLAT,
        BLOCK + "100,000",
        "accounts[5].starting_cash: must be a number: YAML reads 100,000 as text; write 100000 (got '100,000')",
    ),
    "a currency sign": (
        "accounts.yaml",
        FLAT,
        BLOCK + "$100000",
        "accounts[5].starting_cash: must be a number: YAML reads $100000 as text; write 100000 (got '$100000')",
    ),
    "a leading zero": (
        "risk.yaml",
        "max_open_positions: 10",
        "max_open_positions: 09",
        "limits.max_open_positions: must be a whole number: YAML reads 09 as text; write 9 (got '09')",
    ),
    "a word for a switch": (
        "risk.yaml",
        "live_trading_enabled: false",
        "live_trading_enabled: yes",
        "live_trading_enabled: must be true or false: llmtrade reads yes as text, as YAML 1.2 does (got 'yes')",
    ),
    "text for a number": (
        "risk.yaml",
        "max_open_positions: 10",
        "max_open_positions: ten",
        "limits.max_open_positions: must be a whole number: YAML reads ten as text (got 'ten')",
    ),
}

QUOTED = {
    "a switch": (
        "risk.yaml",
        "live_trading_enabled: false",
        'live_trading_enabled: "true"',
        "live_trading_enabled: must be true or false, written without quotes (got 'true')",
    ),
    "a number": (
        "risk.yaml",
        "max_open_positions: 10",
        'max_open_positions: "10"',
        "limits.max_open_positions: must be a whole number, written without quotes (got '10')",
    ),
    "a date": (
        "models.yaml",
        "knowledge_cutoff: 2024-09-30",
        'knowledge_cutoff: "2024-09-30"',
        "pms[0].knowledge_cutoff: must be a date, YYYY-MM-DD, written without quotes (got '2024-09-30')",
    ),
}


def _validate(tmp_path: Path, filename: str, old: str, new: str) -> str:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / filename
    assert old in path.read_text()
    path.write_text(path.read_text().replace(old, new, 1))
    result = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"invalid configuration in {folder}/{filename}" in result.output
    return result.output


@pytest.mark.parametrize("case", list(CASES))
def test_text_that_was_not_quoted_is_told_what_yaml_read(tmp_path: Path, case: str) -> None:
    filename, old, new, expected = CASES[case]
    output = _validate(tmp_path, filename, old, new)
    assert expected in output, output
    assert "written without quotes" not in output


@pytest.mark.parametrize("case", list(QUOTED))
def test_a_quoted_value_is_told_to_be_written_without_quotes(tmp_path: Path, case: str) -> None:
    filename, old, new, expected = QUOTED[case]
    output = _validate(tmp_path, filename, old, new)
    assert expected in output, output


def test_a_date_in_another_form_is_told_the_form(tmp_path: Path) -> None:
    output = _validate(tmp_path, "models.yaml", "knowledge_cutoff: 2024-09-30", "knowledge_cutoff: 2024/09/30")
    assert "pms[0].knowledge_cutoff: must be a date, YYYY-MM-DD (got '2024/09/30')" in output, output
