"""An override that leaves out what the packaged template of its name shows the model is said, as a warning.

A user who copied a packaged template months ago keeps a copy that omits what later versions show the model: the
packaged templates now say when a close is more than 2 sessions old (a stale close), and a copy made before that
drops it without a word. The renderer already refuses an override that uses a variable its prompt is not given; the
opposite is said, not refused (an override may leave things out on purpose): by `config validate` (exit 0) and once
per command that renders prompts (a backtest renders thousands), naming the file, what it leaves out and what that
means to the model."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.config.loader import write_defaults
from llmtrade.prompts.renderer import PromptRenderer
from tests.test_checkpoint_prompt import _variables

runner = CliRunner()
PACKAGED = Path(__file__).resolve().parents[1] / "src" / "llmtrade" / "prompts"
# The checkpoint prompt's stale-close lines, and the snapshot table's: what a copy made before them lacks.
CHECKPOINT_STALE = (
    "{% if stale is defined and stale %}\n"
    "{{ instrument }}'s price now is its last close, of {{ stale.day }}, {{ stale.sessions }} sessions before the last "
    "complete session ({{ stale.session }}): no trade of it on the feed since (a thin name, a halt); it is not a "
    "current price, and no position is opened in or added to at it.\n"
    "{% endif %}\n"
)
SNAPSHOT_STALE = (
    "{% for symbol, close, age in stale_closes(snapshot) %}\n"
    "{{ symbol }}'s close {{ close | round(2) }} is of {{ age.day }}, {{ age.sessions }} sessions before the last "
    "complete session ({{ age.session }}): no trade of it on the feed since (a thin name, a halt); it is not a current "
    "price, and no position is opened in or added to at it.\n"
    "{% endfor %}\n"
)


def _without(name: str, lines: str) -> str:
    text = (PACKAGED / name).read_text()
    assert lines in text, f"{name} no longer has the lines this test removes"
    return text.replace(lines, "")


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "prompts"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_a_checkpoint_copy_made_before_the_stale_close_lines_is_said_naming_the_file_and_stale(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"checkpoint.user.j2": _without("checkpoint.user.j2", CHECKPOINT_STALE)})
    [note] = PromptRenderer(folder).drift
    assert str(folder / "checkpoint.user.j2") in note, note
    assert "'stale'" in note and "more than 2 sessions old" in note, note
    assert "close_only" not in note and "_memory.j2" not in note, note  # only what it leaves out


def test_a_snapshot_copy_made_before_the_stale_close_lines_names_stale_closes(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {"_snapshot.j2": _without("_snapshot.j2", SNAPSHOT_STALE)})
    [note] = PromptRenderer(folder).drift
    assert str(folder / "_snapshot.j2") in note and "'stale_closes'" in note, note
    assert "more than 2 sessions old" in note, note


def test_a_pitch_copy_without_the_close_only_partial_names_the_partial(tmp_path: Path) -> None:
    include = '{% if instrument.held_only %}; {% include "_close_only.j2" %}{% endif %}'
    folder = _folder(tmp_path, {"pm_pitch.user.j2": _without("pm_pitch.user.j2", include)})
    [note] = PromptRenderer(folder).drift
    assert (
        str(folder / "pm_pitch.user.j2") in note and "'_close_only.j2'" in note and "may only be closed or cut" in note
    ), note


def test_exact_copies_of_every_packaged_template_are_said_nothing_of(tmp_path: Path) -> None:
    folder = _folder(tmp_path, {path.name: path.read_text() for path in PACKAGED.glob("*.j2")})
    assert PromptRenderer(folder).drift == ()


def test_a_name_moved_to_the_roles_other_template_is_still_shown(tmp_path: Path) -> None:
    # Both of a role's templates are rendered with the same variables: the model still sees `stale`.
    system = (PACKAGED / "checkpoint.system.j2").read_text() + "\n" + CHECKPOINT_STALE
    files = {"checkpoint.user.j2": _without("checkpoint.user.j2", CHECKPOINT_STALE), "checkpoint.system.j2": system}
    assert PromptRenderer(_folder(tmp_path, files)).drift == ()


def test_a_partial_of_the_users_own_that_shows_it_counts(tmp_path: Path) -> None:
    include = '{% include "_mine.j2" %}\n\nYour thesis:'
    text = _without("checkpoint.user.j2", CHECKPOINT_STALE).replace("Your thesis:", include)
    folder = _folder(tmp_path, {"checkpoint.user.j2": text, "_mine.j2": CHECKPOINT_STALE})
    assert PromptRenderer(folder).drift == ()


def test_an_override_showing_a_subset_on_purpose_still_renders_and_is_said(tmp_path: Path) -> None:
    subset = "{{ direction }} {{ instrument }}: STAY, REDUCE, EXIT or FLIP?\n"
    folder = _folder(tmp_path, {"checkpoint.user.j2": subset})
    renderer = PromptRenderer(folder)
    [note] = renderer.drift
    assert "'stale'" in note and "'thesis'" in note and "'_memory.j2'" in note, note
    variables = _variables(random.Random(3))
    user = renderer.render("checkpoint", **variables).user
    assert user == f"{variables['direction']} {variables['instrument']}: STAY, REDUCE, EXIT or FLIP?"


def test_config_validate_says_it_and_exits_0(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cfg"
    write_defaults(config)
    folder = _folder(config, {"checkpoint.user.j2": _without("checkpoint.user.j2", CHECKPOINT_STALE)})
    result = runner.invoke(app, ["--config", str(config), "config", "validate"])
    assert result.exit_code == 0, result.output
    assert "configuration OK" in result.stdout, result.output
    assert str(folder / "checkpoint.user.j2") in result.stderr and "'stale'" in result.stderr, result.output
    (folder / "checkpoint.user.j2").write_text((PACKAGED / "checkpoint.user.j2").read_text())
    result = runner.invoke(app, ["--config", str(config), "config", "validate"])
    assert result.exit_code == 0 and "leaves out" not in result.output, result.output


def test_a_command_says_it_once_however_many_containers_and_renders(tmp_path: Path) -> None:
    from dataclasses import replace

    from llmtrade.app.container import Container
    from llmtrade.clock import make_clock
    from llmtrade.config.loader import load_config
    from llmtrade.settings import load_settings

    config = tmp_path / "cfg"
    write_defaults(config)
    _folder(config, {"checkpoint.user.j2": _without("checkpoint.user.j2", CHECKPOINT_STALE)})
    said: list[str] = []
    app = Container(load_settings(), load_config(config), make_clock(None), config, said.append, warn=said.append)
    _ = app.prompts
    _ = app.prompts
    # A week's jobs held to the mode it began in run on a copy (app/week_mode.py `in_week_mode`): the same command.
    _ = replace(app, offline=True).prompts
    assert len([line for line in said if "leaves out" in line]) == 1, said


BACKTEST = ("2024-01-03", "2024-01-10")


def test_a_backtest_says_it_once_and_runs(
    tmp_path: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _folder(tmp_path, {"checkpoint.user.j2": _without("checkpoint.user.j2", CHECKPOINT_STALE)})
    monkeypatch.setenv("LLMTRADE_PROMPTS_DIR", str(folder))
    args = ["backtest", "--offline", "--from", BACKTEST[0], "--to", BACKTEST[1], "--name", "prompt_drift_once"]
    result = runner.invoke(app, ["-q", *args])
    assert result.exit_code == 0, result.output
    assert result.stderr.count(f"prompt override {folder / 'checkpoint.user.j2'} leaves out") == 1, result.stderr


def test_a_sweep_says_it_once_though_its_runs_say_nothing(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    folder = _folder(tmp_path, {"checkpoint.user.j2": _without("checkpoint.user.j2", CHECKPOINT_STALE)})
    monkeypatch.setenv("LLMTRADE_PROMPTS_DIR", str(folder))
    monkeypatch.setenv("DATABASE_URL", database_url)
    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: d{uuid.uuid4().hex[:8]}\nranges: [{{from: 2026-01-07, to: 2026-01-07}}]\n")
    result = runner.invoke(app, ["-q", "backtest", "sweep", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stderr.count(f"prompt override {folder / 'checkpoint.user.j2'} leaves out") == 1, result.stderr
