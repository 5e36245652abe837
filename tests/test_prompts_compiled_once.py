"""Each template's text is compiled once per process, whichever renderer asks (prompts/compiled.py); an edited text is
compiled anew."""

from __future__ import annotations

from pathlib import Path

import jinja2
import pytest

from llmtrade.prompts import renderer as renderer_module
from llmtrade.prompts.compiled import CompiledOnce
from llmtrade.prompts.renderer import PromptRenderer
from tests.test_checkpoint_lean import CHECKPOINT_VALUES


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names jinja compiles from here on, with a cache of this test's own (none compiled yet)."""
    monkeypatch.setattr(renderer_module, "COMPILED", CompiledOnce())
    names: list[str] = []
    compile_ = jinja2.Environment.compile

    def counted(
        self: jinja2.Environment, source: str, name: str | None = None, *args: object, **kwargs: object
    ) -> object:
        names.append(str(name))
        return compile_(self, source, name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    return names


def test_a_second_renderer_compiles_nothing_and_renders_the_same(compiles: list[str]) -> None:
    first = PromptRenderer()
    first._compile_all()
    packaged = first._env.list_templates(extensions=["j2"])
    assert sorted(compiles) == sorted(packaged)

    compiles.clear()
    second = PromptRenderer()
    second._compile_all()
    assert compiles == []
    values = CHECKPOINT_VALUES
    rendered = [
        r.render("checkpoint", values=values, pnl_pct=0.01, time="12:00", memory=(), **values) for r in (first, second)
    ]
    assert rendered[0] == rendered[1]
    assert "Checkpoint 12:00 New York." in rendered[1].user
    assert compiles == []


def test_an_override_edited_between_renderers_is_compiled_anew_and_renders_its_new_text(
    tmp_path: Path, compiles: list[str]
) -> None:
    system = tmp_path / "checkpoint.system.j2"
    system.write_text("Manage it at {{ time }}.\n", encoding="utf-8")
    values = CHECKPOINT_VALUES

    def system_prompt() -> str:
        return (
            PromptRenderer(tmp_path)
            .render("checkpoint", values=values, pnl_pct=0.0, time="12:00", memory=(), **values)
            .system
        )

    # An override is compiled once by the renderer's check of the folder (renderer.py `_check_overrides`), then by its
    # load only when its text is not the one compiled before.
    assert system_prompt() == "Manage it at 12:00."
    assert compiles.count("checkpoint.system.j2") == 2  # the check, and the first load
    compiles.clear()
    assert system_prompt() == "Manage it at 12:00."
    assert compiles.count("checkpoint.system.j2") == 1  # the check alone: the same text's code kept

    compiles.clear()
    system.write_text("Hold it at {{ time }}.\n", encoding="utf-8")
    assert system_prompt() == "Hold it at 12:00."
    assert compiles.count("checkpoint.system.j2") == 2
    system.write_text(
        "Manage it at {{ time }}.\n", encoding="utf-8"
    )  # back to the first text: compiled again (one text kept a template)
    assert system_prompt() == "Manage it at 12:00."
