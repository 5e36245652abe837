"""The checkpoint's prompt written without Jinja (agents/checkpointer.py `_packaged`): it must be, to the byte,
what the renderer makes of the packaged templates (the look-ahead audit and the replay cache compare prompts),
and any other template text (an override, an edited template) must go through the renderer."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, get_args

from llmtrade.agents.checkpointer import ROLE, Templates, _packaged, read_templates
from llmtrade.domain.committee import IndicatorName, WatchedIndicator
from llmtrade.prompts.renderer import PromptRenderer

_INDICATORS = get_args(IndicatorName)
_TEXTS = ["up", "rates fall — “soft” landing", "  padded  ", "two\nlines", "ü é 10%", "{{ not a tag }}", "-"]


def _variables(rng: random.Random) -> dict[str, Any]:
    watched = [
        WatchedIndicator(
            name=rng.choice(_TEXTS).strip() or "x",
            threshold={"indicator": rng.choice(_INDICATORS), "op": rng.choice(["<", "<=", ">", ">="]), "value": v},
            why=rng.choice(_TEXTS).strip() or "y",
        )
        for v in (rng.choice([0.0, -0.05, 70.0, 1e-7, 123456.789, 3.0]) for _ in range(rng.randint(0, 4)))
    ]
    values: dict[str, float | None] = {
        name: rng.choice([None, 0.0, -0.0123, 55.55, 1e9, 2.005]) for name in rng.sample(_INDICATORS, 6)
    }
    return {
        "instrument": rng.choice(["SPY", "TLT", "BRK.B"]),
        "direction": rng.choice(["LONG", "SHORT"]),
        "conviction": rng.choice([-2, -1, 1, 2]),
        "thesis": [rng.choice(_TEXTS) for _ in range(rng.randint(0, 4))],
        "watched": watched,
        "values": values,
        "pnl_pct": rng.choice([0.0, -0.031, 0.0149, 0.00049, -1e-9]),
        "time": rng.choice(["09:00", "12:00", "15:50"]),
        "memory": tuple(rng.choice(_TEXTS) + f" [m{i}]" for i in range(rng.choice([0, 0, 1, 3]))),
        "close_only": rng.random() < 0.25,
        "outside": rng.random() < 0.5,  # said only of a close-only position (in no universe at all)
    }


def test_the_packaged_prompt_is_the_renderers_to_the_byte() -> None:
    renderer, rng = PromptRenderer(), random.Random(13)
    for _ in range(400):
        variables = _variables(rng)
        written = _packaged(renderer, variables)
        assert written is not None  # the packaged templates are the ones it follows (else: update _PACKAGED)
        assert written == renderer.render(ROLE, **variables)


def test_an_override_of_any_template_it_follows_is_rendered_by_the_renderer(tmp_path: Path) -> None:
    variables = _variables(random.Random(5)) | {"memory": ("a [m1]",), "close_only": True}
    for name, text, outside in (
        ("checkpoint.user.j2", "Position {{ instrument }} at {{ time }}.\n", False),
        ("_memory.j2", "Memory:\n{% for line in memory %}\n* {{ line }}\n{% endfor %}\n", False),
        ("_close_only.j2", "close it", False),
        ("_close_only_outside.j2", "close it", True),
    ):
        variables["outside"] = outside
        folder = tmp_path / name.replace(".", "_")
        folder.mkdir()
        (folder / name).write_text(text, encoding="utf-8")
        renderer = PromptRenderer(folder)
        assert _packaged(renderer, variables) is None
        rendered = renderer.render(ROLE, **variables)
        assert rendered.user.startswith("Position") or "* a [m1]" in rendered.user or "close it" in rendered.user
        assert outside is ("in no universe" not in rendered.user and "close it" in rendered.user) or not outside


def test_an_override_with_the_packaged_text_is_written_the_same(tmp_path: Path) -> None:
    packaged = Path(__file__).resolve().parents[1] / "src" / "llmtrade" / "prompts" / "checkpoint.user.j2"
    (tmp_path / "checkpoint.user.j2").write_text(packaged.read_text(encoding="utf-8"), encoding="utf-8")
    renderer, variables = PromptRenderer(tmp_path), _variables(random.Random(8))
    assert _packaged(renderer, variables) == renderer.render(ROLE, **variables)


def test_templates_read_once_for_a_checkpoint_write_every_owners_prompt_to_the_byte(tmp_path: Path) -> None:
    renderer, rng = PromptRenderer(), random.Random(21)
    templates = read_templates(renderer)
    assert templates.packaged and templates.system is not None  # the packaged ones (else: update the digests)
    for _ in range(100):
        variables = _variables(rng)
        assert _packaged(renderer, variables, templates) == renderer.render(ROLE, **variables)
    # A system prompt of its own (with a variable) is rendered for each ask; the user text is still written.
    (tmp_path / "checkpoint.system.j2").write_text("Manage {{ instrument }} until Friday.\n", encoding="utf-8")
    custom = PromptRenderer(tmp_path)
    templates = read_templates(custom)
    assert templates.packaged and templates.system is None
    for _ in range(20):
        variables = _variables(rng)
        assert _packaged(custom, variables, templates) == custom.render(ROLE, **variables)
    # Another user template: nothing is written, the renderer renders it.
    (tmp_path / "checkpoint.user.j2").write_text("Position {{ instrument }}.\n", encoding="utf-8")
    other = PromptRenderer(tmp_path)
    assert read_templates(other) == Templates(False, None)
    assert _packaged(other, _variables(rng), read_templates(other)) is None
