"""An account set to `broker: alpaca` whose keys are not set is a configuration refused by name, by every job and by
`config validate` alike.

Found by a new user's trial: with acct_1 on `broker: alpaca` and ALPACA_ACCT_1_KEY / ALPACA_ACCT_1_SECRET unset in a
live home, `config validate` said "configuration OK" (exit 0), while run-due and even `status` stopped with exit 1 and
"account acct_1 uses broker alpaca but ... are not set", naming neither accounts.yaml nor the setting. It is now
accounts.yaml's `accounts[0].broker`, exit 2, as every configuration a job cannot use; offline, where every account
trades on the paper broker, it is no refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import write_defaults
from tests.fakes.llm_transport import FakeLLM

runner = CliRunner()
SAID = (
    "accounts[0].broker: is alpaca, but ALPACA_ACCT_1_KEY and ALPACA_ACCT_1_SECRET (its alpaca.key_env and "
    "alpaca.secret_env) are not set in the environment or .env: set them, or write broker: auto to trade acct_1 on "
    "the paper broker until they are (got 'alpaca')"
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / "accounts.yaml"
    text = path.read_text()
    old = "{id: acct_1, name: GPT-5.1 PM, role: pm, alpaca:"
    assert old in text
    path.write_text(text.replace(old, "{id: acct_1, name: GPT-5.1 PM, role: pm, broker: alpaca, alpaca:", 1))
    return folder


@pytest.mark.parametrize("command", [["config", "validate"], ["run-due"], ["run-weekly", "--dry-run"], ["status"]])
def test_broker_alpaca_without_its_keys_is_refused_naming_the_file_and_setting(
    live: FakeLLM, folder: Path, command: list[str]
) -> None:
    result = runner.invoke(app, ["--config", str(folder), *command])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert f"invalid configuration in {folder}/accounts.yaml" in result.output, result.output
    assert SAID in result.output, result.output
    assert "configuration OK" not in result.output
    assert not live.requests  # refused before any model was asked


def test_offline_every_account_is_on_the_paper_broker_and_nothing_is_refused(wednesday_week: str, folder: Path) -> None:
    result = runner.invoke(app, ["--config", str(folder), "run-weekly", "--offline", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "ALPACA_ACCT_1_KEY" not in result.output
