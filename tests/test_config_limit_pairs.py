"""Two limits of which one lies inside the other (a position inside its asset class): a config that sets the inner
one above the outer was accepted silently, and the inner one could never be reached. Refused at load, exit 2, naming
the file, both keys and both values."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import write_defaults

runner = CliRunner()


def _folder(tmp_path: Path, filename: str, old: str, new: str) -> Path:
    folder = tmp_path / "cfg"
    write_defaults(folder)
    path = folder / filename
    text = path.read_text()
    assert old in text, f"fixture text {old!r} not in {filename}"
    path.write_text(text.replace(old, new, 1))
    return folder


def _validate(folder: Path) -> tuple[int, str]:
    result = runner.invoke(app, ["--config", str(folder), "config", "validate"])
    return result.exit_code, result.output


def test_an_asset_class_cap_below_the_position_cap_is_refused(tmp_path: Path) -> None:
    """The gate clamps each size by both (risk/gate.py): with the class at 0.10 and a position at 0.20, every position
    was cut to 10% of equity, conviction 2 sized as conviction 1, and the clamp named the class even when it held no
    other position."""
    folder = _folder(tmp_path, "risk.yaml", "max_asset_class_pct: 0.30", "max_asset_class_pct: 0.10")
    code, said = _validate(folder)
    assert code == 2, said
    assert f"{folder / 'risk.yaml'}" in said.replace("\n", ""), said
    assert "limits: max_asset_class_pct (0.1) is below max_position_pct (0.2)" in said, said


def test_an_asset_class_cap_equal_to_the_position_cap_is_allowed(tmp_path: Path) -> None:
    # One position may fill its class: both limits reachable.
    folder = _folder(tmp_path, "risk.yaml", "max_asset_class_pct: 0.30", "max_asset_class_pct: 0.20")
    code, said = _validate(folder)
    assert code == 0, said


def test_a_run_budget_above_the_week_budget_is_refused(tmp_path: Path) -> None:
    """llm/budget.py checks a call against both ceilings, and a run's calls are its week's: at $5 a run and $2 a week,
    every run stopped at $2 and per_run_usd never counted."""
    budget = "budget: {per_run_usd: 5.0, per_week_usd: 2.0}"
    folder = _folder(tmp_path, "models.yaml", "# budget: {per_run_usd: 2.0, per_week_usd: 10.0}", budget)
    code, said = _validate(folder)
    assert code == 2, said
    assert f"{folder / 'models.yaml'}" in said.replace("\n", ""), said
    assert "budget: per_run_usd (5) is above per_week_usd (2)" in said, said


def test_a_run_budget_equal_to_the_week_budget_is_allowed(tmp_path: Path) -> None:
    budget = "budget: {per_run_usd: 2.0, per_week_usd: 2.0}"
    folder = _folder(tmp_path, "models.yaml", "# budget: {per_run_usd: 2.0, per_week_usd: 10.0}", budget)
    code, said = _validate(folder)
    assert code == 0, said


def test_a_budget_below_one_calls_least_worst_case_is_refused(tmp_path: Path) -> None:
    """The budget holds each call's worst case before sending it, all of max_tokens at the output price at least
    (llm/budget.py): at $0.05 a run, grok's 4000 tokens at $15 per million ($0.06) never fit, and the run stopped at
    its first call to grok, after the research and the other PMs were paid for."""
    folder = _folder(
        tmp_path, "models.yaml", "# budget: {per_run_usd: 2.0, per_week_usd: 10.0}", "budget: {per_run_usd: 0.05}"
    )
    code, said = _validate(folder)
    assert code == 2, said
    flat = " ".join(said.split())
    assert (
        "pms[3].max_tokens: 4000 tokens of x-ai/grok-4 at its output price $15 per million are a worst case of $0.06 a "
        "call, the prompt not counted, above budget.per_run_usd (0.05)" in flat
    ), said
    assert "perplexity/sonar-pro" in flat  # research A, at $15 too
    assert "openai/gpt-5.1" not in flat  # $0.04 fits
