"""A sweep file is read as strictly as the config files: what the user wrote is what runs, or it is refused with
exit 2 naming the file, the key and, for a YAML mistake, the line. No database: these checks come before any run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.errors import UsageError
from llmtrade.sweep import spec

runner = CliRunner()
BASE = """
name: demo
ranges:
  - {from: 2026-01-07, to: 2026-01-21}
"""
# No server is reached: a refused file exits before the sweep's database is made.
NOWHERE = {"DATABASE_URL": "postgresql://x@127.0.0.1:1/n"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        # PyYAML kept the last silently: the 5% override was never run and nothing said so.
        (
            BASE
            + "overrides:\n  tight: {risk.limits.max_position_pct: 0.05}\n"
            + "  tight: {risk.limits.max_position_pct: 0.1}\n",
            "'tight'",
            7,
        ),
        (BASE + "name: other\n", "'name'", 5),
    ],
)
def test_a_key_given_twice_in_a_sweep_file_is_refused_naming_it_and_its_line(
    tmp_path: Path, text: str, key: str, line: int
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(UsageError) as refused:
        spec.read(path)
    said = str(refused.value)
    assert said.startswith(f"sweep file {path}: ")
    assert f"key {key} is given twice" in said
    assert f"line {line}" in said
    result = runner.invoke(cli, ["backtest", "sweep", str(path)], env=NOWHERE)
    assert result.exit_code == 2, result.output
    assert "given twice" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("axis", "key"),
    [
        # pydantic's lax mode read `true` as seed 1, `1`/`0` as memory on/off and `retries: true` as one retry.
        ("seeds: [7, true]\n", "seeds.1"),
        ("memory: [1, 0]\n", "memory.0"),
        ("retries: true\n", "retries"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_not_coerced(tmp_path: Path, axis: str, key: str) -> None:
    path = _write(tmp_path, BASE + axis)
    with pytest.raises(UsageError, match=f"sweep file {path}: key {key}: must be"):
        spec.read(path)


@pytest.mark.parametrize("axis", ["overrides: {}", "model_sets: {}", "memory:", "seeds:", "seeds: []"])
def test_an_empty_axis_is_refused_not_read_as_left_out(tmp_path: Path, axis: str) -> None:
    """`seeds: []` was refused, but `overrides: {}` and a bare `seeds:` ran the config as it is with exit 0, as if
    the key were left out: an axis emptied by mistake (its values commented out) ran one run where several were
    meant."""
    path = _write(tmp_path, BASE + axis + "\n")
    key = axis.split(":")[0]
    with pytest.raises(UsageError, match=f"sweep file {path}: key {key}: has no value"):
        spec.read(path)
    result = runner.invoke(cli, ["backtest", "sweep", str(path)], env=NOWHERE)
    assert result.exit_code == 2, result.output
    assert "leave the key out to run the config as it is" in " ".join(result.output.split())
