"""A sweep file is read as strictly as the config files: what the user wrote is what runs, or it is refused with
exit 2 naming the file, the key and, for a YAML mistake, the line. No database: these checks come before any run."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.config.loader import load_config, write_defaults
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


def test_an_override_written_nested_sets_its_settings_and_keeps_the_others(tmp_path: Path) -> None:
    """`{risk: {limits: {max_position_pct: 0.05}}}`, the YAML files' own nesting, replaced the whole `risk` section:
    every risk setting it did not name went back to the packaged default (the user's max_open_positions: 3 ran as 10,
    the breaker's halt too), with exit 0 and no word. Nested or dotted, an override sets what it names alone."""
    folder = tmp_path / "config"
    folder.mkdir()
    write_defaults(folder)
    risk = folder / "risk.yaml"
    risk.write_text(risk.read_text().replace("max_open_positions: 10", "max_open_positions: 3"))
    loaded = load_config(folder)
    path = _write(
        tmp_path,
        BASE
        + "overrides:\n"
        + "  dotted: {risk.limits.max_position_pct: 0.05}\n"
        + "  nested: {risk: {limits: {max_position_pct: 0.06}}}\n"
        + "  half: {risk.limits: {max_position_pct: 0.07}}\n"
        # A mapping of the config's own (model -> price), not a section: still replaced whole, as before.
        + "  prices: {models.prices: {x/y: {input_per_mtok: 1, output_per_mtok: 2}}}\n",
    )
    plans = spec.plan(path, spec.read(path), loaded, prices="synthetic", csv=False)
    limits = {p.axes["overrides"]: p.config.risk.limits for p in plans}
    assert {name: (lim.max_position_pct, lim.max_open_positions) for name, lim in limits.items()} == {
        "dotted": (0.05, 3),
        "nested": (0.06, 3),
        "half": (0.07, 3),
        "prices": (0.20, 3),
    }
    assert set(plans[-1].config.models.prices) == {"x/y"}
    assert all(p.config.risk.circuit_breaker == loaded.config.risk.circuit_breaker for p in plans)


def test_a_nested_override_of_a_setting_that_does_not_exist_names_its_dotted_key(tmp_path: Path) -> None:
    path = _write(tmp_path, BASE + "overrides: {x: {risk: {limits: {max_position: 0.05}}}}\n")
    with pytest.raises(UsageError, match=r"key overrides\.x\.risk\.limits\.max_position: the config has no"):
        spec.plan(path, spec.read(path), load_config(None), prices="synthetic", csv=False)


@pytest.mark.parametrize(
    ("axes", "said"),
    [
        # Each read "overrides=config ... seed=7 ... runs the same backtest as overrides=config ... seed=7 ...": one
        # label twice, naming no key of the file to drop.
        ("seeds: [7, 11, 7]\n", "key seeds.2 (7) runs the same backtest as seeds.0 (7)"),
        ("memory: [false, false]\n", "key memory.1 (false) runs the same backtest as memory.0 (false)"),
        (
            "  - {from: 2026-01-08, to: 2026-01-22}\n",
            "key ranges.1 (2026-01-08 to 2026-01-22) runs the same backtest as ranges.0 (2026-01-07 to 2026-01-21)",
        ),
        (
            "overrides: {a: {risk.limits.max_position_pct: 0.05}, b: {risk.limits.max_position_pct: 0.05}}\n",
            "key overrides.b runs the same backtest as overrides.a",
        ),
    ],
)
def test_a_run_repeated_in_the_file_is_refused_naming_the_keys_that_repeat_it(
    tmp_path: Path, axes: str, said: str
) -> None:
    path = _write(tmp_path, BASE + axes)
    with pytest.raises(UsageError) as refused:
        spec.plan(path, spec.read(path), load_config(None), prices="synthetic", csv=False)
    assert str(refused.value).startswith(f"sweep file {path}: {said}: the same config, prices and weeks")
    assert str(refused.value).endswith("drop one of them")


def test_a_folder_given_as_the_sweep_file_is_said_to_be_a_folder(tmp_path: Path) -> None:
    """`backtest sweep DIR` said 'sweep file DIR: no such file' of a folder that is there."""
    (tmp_path / "sweeps").mkdir()
    (tmp_path / "sweeps" / "momentum.yaml").write_text(BASE)
    result = runner.invoke(cli, ["backtest", "sweep", str(tmp_path / "sweeps")], env=NOWHERE)
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert f"sweep file {tmp_path / 'sweeps'}: is a folder, not a sweep file" in said
    assert "momentum.yaml" in said  # the YAML files it holds, to pick from
    assert "no such file" not in said


def test_workers_given_to_the_serial_executor_are_refused_not_ignored() -> None:
    """`backtest sweep FILE --workers 4` ran one run at a time ('on serial (1 worker)') with no word, where
    `--address` beside serial is refused: the 4 asked for were ignored."""
    from llmtrade.sweep.executors import open_executor
    from llmtrade.sweep.work import Shared

    shared = Shared(settings={}, config_dir=None, config_source="packaged", prices=None, prices_hash="x")
    with pytest.raises(UsageError, match="--workers 4 is for --executor local or ray"):
        open_executor("serial", shared, workers=4)
    assert open_executor("serial", shared, workers=0).workers == 1  # the default: not given
    assert open_executor("serial", shared, workers=1).workers == 1


def test_a_top_level_x_key_holds_anchors_as_in_the_config_files(tmp_path: Path) -> None:
    """The config files' `x-` keys (anchors for `<<: *name`) were 'unknown key (not a setting of this file)' here, the
    same loader reading both since the sweep file is read as strictly as they are."""
    path = _write(
        tmp_path,
        "x-tight: &tight {risk.limits.max_position_pct: 0.05}\n"
        + BASE
        + "overrides:\n  tight: *tight\n  fewer: {<<: *tight, risk.limits.max_open_positions: 3}\n",
    )
    plans = spec.plan(path, spec.read(path), load_config(None), prices="synthetic", csv=False)
    limits = {p.axes["overrides"]: p.config.risk.limits for p in plans}
    assert (limits["tight"].max_position_pct, limits["tight"].max_open_positions) == (0.05, 10)
    assert (limits["fewer"].max_position_pct, limits["fewer"].max_open_positions) == (0.05, 3)
    with pytest.raises(UsageError, match="key x_tight: unknown key"):  # only x- is the file's own, as in the config
        spec.read(_write(tmp_path, "x_tight: 1\n" + BASE))


def test_a_value_the_config_refuses_is_named_by_the_keys_the_file_has(tmp_path: Path) -> None:
    """'overrides.x / model_sets.config: key risk.limits.max_position_pct: ...' named a model set the file has not
    (`config` is the name of the axis left out), as if the user had written one."""
    path = _write(tmp_path, BASE + "overrides: {x: {risk.limits.max_position_pct: 7}}\n")
    with pytest.raises(UsageError) as refused:
        spec.plan(path, spec.read(path), load_config(None), prices="synthetic", csv=False)
    said = str(refused.value)
    assert said.startswith(f"sweep file {path}: overrides.x: key risk.limits.max_position_pct: must be"), said
    assert "model_sets" not in said
    path = _write(tmp_path, BASE + "model_sets: {m: {}}\noverrides: {x: {risk.limits.max_position_pct: 7}}\n")
    with pytest.raises(UsageError, match=f"sweep file {path}: overrides.x with model_sets.m: "):
        spec.plan(path, spec.read(path), load_config(None), prices="synthetic", csv=False)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "name: demo\nranges: [{from: 2026-01-07, to: }]\n",
            "key ranges.0.to: is missing its value: it must be a date",
        ),
        ("name: demo\nmode:\nranges: [{from: 2026-01-07, to: 2026-01-07}]\n", "key mode: is missing its value: it "),
        ("name:\nranges: [{from: 2026-01-07, to: 2026-01-07}]\n", "key name: is missing its value: it must be text"),
    ],
)
def test_a_key_written_with_no_value_is_said_missing_not_got_none(tmp_path: Path, text: str, said: str) -> None:
    """A tester's `to:` left blank read "must be a date, YYYY-MM-DD (got None)": a None the user never wrote."""
    path = _write(tmp_path, text)
    result = runner.invoke(cli, ["backtest", "sweep", str(path)], env=NOWHERE)
    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert said in message and "None" not in message, message


def test_a_name_too_long_is_told_what_a_name_may_be_not_the_pattern(tmp_path: Path) -> None:
    # A trial's 25-character sweep name was told "must be text matching '^[A-Za-z0-9][A-Za-z0-9_-]{0,23}$'".
    path = _write(tmp_path, BASE.replace("name: ", "name: a_name_of_twenty_five_", 1))
    with pytest.raises(UsageError) as refused:
        spec.read(path)
    said = str(refused.value)
    assert "must be a name of 1 to 24 letters, digits, '_' and '-', starting with a letter or digit" in said, said
    assert "{0,23}" not in said
