"""Render a role's prompt from its templates; a user folder can override any template by name.

Undefined variables are errors (StrictUndefined) that name the variable and the template: a
prompt silently missing its research pack would be worse than no prompt at all.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from llmtrade.errors import PromptError


@dataclass(frozen=True)
class RenderedPrompt:
    system: str
    user: str


def _to_json(value: Any) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


class PromptRenderer:
    def __init__(self, override_dir: Path | None = None):
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            loaders.append(jinja2.FileSystemLoader(str(override_dir)))
        loaders.append(jinja2.PackageLoader("llmtrade", "prompts"))
        self.override_dir = override_dir
        self._env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # prompts are plain text, not HTML
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )
        self._env.filters["json"] = _to_json
        self._env.filters["pct"] = _pct
        self._env.filters["num"] = _num

    def render(self, role: str, **variables: Any) -> RenderedPrompt:
        return RenderedPrompt(
            system=self._render(f"{role}.system.j2", variables),
            user=self._render(f"{role}.user.j2", variables),
        )

    def source_of(self, template: str) -> str:
        """Where a template comes from (the override folder or the package), for `--help`-style listings."""
        if self.override_dir is not None and (self.override_dir / template).is_file():
            return str(self.override_dir / template)
        return "packaged"

    def _render(self, name: str, variables: dict[str, Any]) -> str:
        try:
            return self._env.get_template(name).render(**variables).strip()
        except jinja2.TemplateNotFound:
            raise PromptError(f"prompt template {name} not found") from None
        except jinja2.UndefinedError as exc:
            given = ", ".join(sorted(variables)) or "none"
            raise PromptError(f"prompt template {name}: {exc.message} (variables given: {given})") from None
        except jinja2.TemplateSyntaxError as exc:
            raise PromptError(f"prompt template {exc.filename or name}, line {exc.lineno}: {exc.message}") from None
