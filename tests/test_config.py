"""The YAML config: packaged defaults, `init`, and every bad-file case failing with file, path and value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import load_config, write_defaults
from llmtrade.config.models import AccountRole, AssetClass
from llmtrade.config_errors import ConfigError
from llmtrade.errors import UsageError

runner = CliRunner()


def test_packaged_defaults_carry_the_original_plan() -> None:
    config = load_config(None).config
    assert config.assets.symbols == ["SPY", "QQQ", "IWM", "TLT", "IEF", "HYG", "LQD", "UUP", "GLD", "IAU", "USO", "BNO"]
    assert config.assets.instrument("TLT").asset_class is AssetClass.RATES
    assert config.schedule.weekly_run.day == "wednesday" and config.schedule.weekly_run.time == "08:00"
    assert config.schedule.checkpoints == ["09:00", "12:00", "14:00", "15:50"]
    assert len(config.models.pms) == 4
    assert all(ref.provider == "openrouter" for _, ref in config.models.model_refs())
    roles = [a.role for a in config.accounts.accounts]
    assert roles.count(AccountRole.PM) == 4 and roles.count(AccountRole.CHAIRMAN) == 1
    assert roles.count(AccountRole.FLAT) == 1 and len(roles) == 6
    limits, breaker = config.risk.limits, config.risk.circuit_breaker
    assert (limits.max_position_pct, limits.max_asset_class_pct, limits.max_open_positions) == (0.20, 0.30, 10)
    assert (breaker.halt_drawdown_pct, breaker.halt_consecutive_losses) == (0.20, 10)
    assert (breaker.resume_drawdown_pct, breaker.resume_consecutive_wins) == (0.15, 3)
    assert config.risk.live_trading_enabled is False


def test_init_writes_editable_copies_that_load(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "cfg")])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "cfg").iterdir()) == [
        "accounts.yaml",
        "assets.yaml",
        "models.yaml",
        "risk.yaml",
        "schedule.yaml",
    ]
    assert load_config(tmp_path / "cfg").config == load_config(None).config


def test_init_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    write_defaults(tmp_path)
    result = runner.invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 2
    assert "--force" in result.output
    assert runner.invoke(app, ["init", str(tmp_path), "--force"]).exit_code == 0


def _config_dir(tmp_path: Path, filename: str, old: str, new: str) -> Path:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / filename
    text = path.read_text()
    assert old in text, f"fixture text {old!r} not in {filename}"
    path.write_text(text.replace(old, new, 1))
    return folder


BAD_CASES = {
    "unknown key": ("risk.yaml", "  max_open_positions: 10", "  max_open_positoins: 10", "limits.max_open_positoins"),
    "wrong type": ("risk.yaml", "max_open_positions: 10", "max_open_positions: lots", "limits.max_open_positions"),
    "missing account": ("models.yaml", "account: acct_3}", "account: acct_9}", "pms[2].account"),
    "instrument twice": ("assets.yaml", "{symbol: IAU,", "{symbol: GLD,", "universe"),
    "malformed yaml": ("schedule.yaml", 'checkpoints: ["09:00",', 'checkpoints: ["09:00",,', "line 6"),
}
BAD_VALUES = {
    "unknown key": "unknown key",
    "wrong type": "'lots'",
    "missing account": "'acct_9'",
    "instrument twice": "GLD is listed twice",
    "malformed yaml": "malformed YAML",
}


@pytest.mark.parametrize("case", list(BAD_CASES))
@pytest.mark.parametrize("command", [["config", "validate"], ["config", "show"]])
def test_a_bad_file_fails_with_file_path_and_value(tmp_path: Path, case: str, command: list[str]) -> None:
    filename, old, new, field_path = BAD_CASES[case]
    folder = _config_dir(tmp_path, filename, old, new)
    result = runner.invoke(app, ["--config", str(folder), *command])
    assert result.exit_code == 2, result.output
    assert f"invalid configuration in {folder / filename}" in result.output
    assert field_path in result.output
    assert BAD_VALUES[case] in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, ConfigError)  # handled, not raised through


def test_loader_reports_the_problem_as_a_structured_error(tmp_path: Path) -> None:
    folder = _config_dir(tmp_path, "models.yaml", "account: acct_3}", "account: acct_9}")
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    [problem] = caught.value.problems
    assert (problem.path, problem.value) == ("pms[2].account", "acct_9")


def test_a_pm_bound_to_a_non_pm_account_is_refused(tmp_path: Path) -> None:
    folder = _config_dir(tmp_path, "models.yaml", "account: acct_3}", "account: acct_6}")
    expected = r"pms\[2\].account: account has role flat in accounts.yaml, not pm \(got 'acct_6'\)"
    with pytest.raises(ConfigError, match=expected):
        load_config(folder)


def test_an_unknown_provider_is_named(tmp_path: Path) -> None:
    folder = _config_dir(
        tmp_path, "models.yaml", "model: x-ai/grok-4, provider: openrouter", "model: x, provider: groq"
    )
    with pytest.raises(ConfigError, match=r"pms\[3\].provider: no such provider \(known: openrouter\) \(got 'groq'\)"):
        load_config(folder)


def test_an_unknown_provider_for_the_memorys_embeddings_is_named(tmp_path: Path) -> None:
    """A trial: `memory.embedding.provider` naming no provider passed `config validate`, and a live run's memory then
    looked it up among the providers (app/memory_build.py) and failed there."""
    folder = _config_dir(
        tmp_path,
        "models.yaml",
        "memory: {enabled: true,",
        "memory: {embedding: {model: e, provider: groq}, enabled: true,",
    )
    expected = r"memory.embedding.provider: no such provider \(known: openrouter\) \(got 'groq'\)"
    with pytest.raises(ConfigError, match=expected):
        load_config(folder)


def test_a_bad_checkpoint_time_is_named(tmp_path: Path) -> None:
    folder = _config_dir(tmp_path, "schedule.yaml", '"15:50"]', '"25:50"]')
    with pytest.raises(ConfigError, match=r"checkpoints.*HH:MM"):
        load_config(folder)


def test_a_missing_file_and_a_missing_folder_are_explained(tmp_path: Path) -> None:
    write_defaults(tmp_path / "cfg")
    (tmp_path / "cfg" / "risk.yaml").unlink()
    with pytest.raises(ConfigError, match=r"risk.yaml: file is missing"):
        load_config(tmp_path / "cfg")
    with pytest.raises(UsageError, match="does not exist"):
        load_config(tmp_path / "nowhere")
    result = runner.invoke(app, ["--config", str(tmp_path / "nowhere"), "config", "validate"])
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_the_config_folder_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _config_dir(tmp_path, "risk.yaml", "max_open_positions: 10", "max_open_positions: 3")
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(folder))
    result = runner.invoke(app, ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["source"] == str(folder)
    assert data["config"]["risk"]["limits"]["max_open_positions"] == 3


def test_config_show_masks_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-supersecretvalue9876")
    result = runner.invoke(app, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "supersecretvalue" not in result.output
    assert "OPENROUTER_API_KEY\tset (…9876)" in result.output
    assert "ALPACA_ACCT_1_KEY\tnot set" in result.output
