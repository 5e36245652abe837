"""Prompt templates: packaged, strict about missing variables, overridable by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmtrade.errors import ConfigError, PromptError
from llmtrade.prompts.renderer import PromptRenderer


def test_a_packaged_template_renders() -> None:
    prompt = PromptRenderer().render("council_ranking", query="Why?", answers={"A": "one", "B": "two"})
    assert "--- Answer A ---\none" in prompt.user and "(A, B)" in prompt.user
    assert "anonymous" in prompt.system


def test_a_missing_variable_is_an_error_that_names_it_and_the_template() -> None:
    with pytest.raises(PromptError) as caught:
        PromptRenderer().render("council_ranking", query="Why?")
    assert "council_ranking.user.j2" in str(caught.value)
    assert "'answers' is undefined" in str(caught.value)
    assert "variables given: query" in str(caught.value)


def test_a_user_folder_overrides_a_template_by_name(tmp_path: Path) -> None:
    (tmp_path / "council_answer.system.j2").write_text("Answer like a pirate.")
    prompt = PromptRenderer(tmp_path).render("council_answer", query="Hello?")
    assert prompt.system == "Answer like a pirate."
    assert prompt.user == "Hello?"  # not overridden: the packaged template


def test_an_unknown_template_and_a_syntax_error_are_explained(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match=r"nonexistent\.system\.j2 not found"):
        PromptRenderer().render("nonexistent")
    (tmp_path / "council_answer.user.j2").write_text("{% if query %}unclosed")
    # An override is parsed when the renderer is built, before a run spends any model call.
    with pytest.raises(ConfigError, match=r"council_answer\.user\.j2\n  - line 1: template syntax error"):
        PromptRenderer(tmp_path)
