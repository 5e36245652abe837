"""A key pasted where a config file names the environment variable holding it is refused without being repeated.

Found by a new user's trial: `api_key_env: sk-or-v1-...` (the key itself, not the variable's name) was refused with
"(got 'sk-or-v1-...')", on stderr, and in the ConfigRejected event every job records and the log file: the secret
was then kept in the books for good. A value that cannot be a variable's name is no longer shown; `${NAME}` is told
to be written as NAME."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import load_config, parse_file, write_defaults
from llmtrade.config.models import AccountsConfig
from llmtrade.config_errors import ConfigError

runner = CliRunner()
KEY = "sk-or-v1-0123456789abcdef0123456789abcdef"
SECRET = "Xy7/pQ+2kLmN0aBcDeFgHiJkLmNoPqRsTuVwXyZ0"

PLACES = {
    # (file, text in the packaged file, the same with a secret in place of the name, the path refused)
    "a provider's api_key_env": (
        "models.yaml",
        "api_key_env: OPENROUTER_API_KEY",
        f"api_key_env: {KEY}",
        "providers.openrouter.api_key_env",
    ),
    "an account's secret_env": (
        "accounts.yaml",
        "secret_env: ALPACA_ACCT_1_SECRET",
        f'secret_env: "{SECRET}"',
        "accounts[0].alpaca.secret_env",
    ),
    "the market data's secret_env": (
        "assets.yaml",
        "secret_env: ALPACA_DATA_SECRET",
        f'secret_env: "{SECRET}"',
        "market_data.alpaca.secret_env",
    ),
}


def _folder(tmp_path: Path, filename: str, old: str, new: str) -> Path:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / filename
    text = path.read_text()
    assert old in text, f"fixture text {old!r} not in {filename}"
    path.write_text(text.replace(old, new, 1))
    return folder


@pytest.mark.parametrize("case", list(PLACES))
def test_a_secret_written_for_a_variables_name_is_refused_and_never_repeated(tmp_path: Path, case: str) -> None:
    filename, old, new, path = PLACES[case]
    folder = _folder(tmp_path, filename, old, new)
    result = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"invalid configuration in {folder}/{filename}" in result.output
    assert f"{path}: must be the name of the environment variable that holds it" in result.output, result.output
    assert "not the key itself" in result.output
    assert KEY not in result.output and SECRET not in result.output
    with pytest.raises(ConfigError) as refused:  # what a job's ConfigRejected event and the log record
        load_config(folder)
    assert KEY not in str(refused.value) and SECRET not in str(refused.value)


def test_a_reference_to_a_variable_is_told_to_name_it_alone(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "models.yaml", "api_key_env: OPENROUTER_API_KEY", "api_key_env: ${OPENROUTER_API_KEY}")
    result = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    assert result.exit_code == 2, result.output
    assert (
        "providers.openrouter.api_key_env: must be the environment variable's name alone: write OPENROUTER_API_KEY "
        "(llmtrade reads the variable itself) (got '${OPENROUTER_API_KEY}')"
    ) in result.output, result.output


def test_a_name_in_lower_case_is_still_refused_as_a_name() -> None:
    """A name in the wrong case is told what a name must be, as before (it is not shown: it may as well be a key)."""
    text = "accounts:\n  - {id: a, role: flat, alpaca: {key_env: alpaca_key, secret_env: ALPACA_SECRET}}\n"
    with pytest.raises(ConfigError) as refused:
        parse_file("accounts.yaml", text, AccountsConfig)
    said = str(refused.value)
    assert "accounts[0].alpaca.key_env: must be the name of the environment variable that holds it" in said
    assert "capitals, digits and '_', e.g. ALPACA_KEY" in said
