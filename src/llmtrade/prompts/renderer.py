"""Render a role's prompt from its templates; a user folder can override any template by name.

Undefined variables are errors (StrictUndefined) that name the variable and the template: a
prompt silently missing its research pack would be worse than no prompt at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2 import meta, nodes

from llmtrade.config.files import read_text
from llmtrade.errors import ConfigError, ConfigProblem, PromptError
from llmtrade.memo import IdentityMemo


@dataclass(frozen=True)
class RenderedPrompt:
    system: str
    user: str


# Variables a role's prompt is rendered with that its packaged templates do not use (agents/picker.py passes the
# candidates themselves beside their table): an override may use them. Every other variable given is used.
_PASSED_UNUSED: dict[str, tuple[str, ...]] = {"picker": ("candidates",)}

# Frozen models whose `json` text a renderer keeps (PromptRenderer._json).
_JSON_KEPT = 64


def _to_json(value: Any) -> str:
    if hasattr(value, "model_dump"):
        value = value.model_dump(mode="json")
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


def pct(value: float | None) -> str:
    """The `pct` filter: a signed percentage with one decimal, or n/a."""
    return "n/a" if value is None else f"{value:+.1%}"


def num(value: float | None) -> str:
    """The `num` filter: two decimals, or n/a."""
    return "n/a" if value is None else f"{value:.2f}"


class PromptRenderer:
    def __init__(self, override_dir: Path | None = None):
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            # utf-8-sig: a byte-order mark (Windows editors) would otherwise start the prompt.
            loaders.append(jinja2.FileSystemLoader(str(override_dir), encoding="utf-8-sig"))
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
        self._env.filters["json"] = self._json
        self._env.filters["pct"] = pct
        self._env.filters["num"] = num
        self._env.globals["snapshot_table"] = self._snapshot_table
        self._snapshot_cache: tuple[Any, str] | None = None
        # id -> (a frozen model, its `json` text): see `_json`.
        self._json_cache: IdentityMemo[Any, str] = IdentityMemo(_JSON_KEPT)
        # Template name -> (the compiled template, its text when it is plain text, else None): see `_constant`.
        self._constants: dict[str, tuple[jinja2.Template, str | None]] = {}
        # Template name -> (the compiled template, the sha256 of its text): see `source_digest`.
        self._digests: dict[str, tuple[jinja2.Template, str]] = {}
        if override_dir is not None:
            self._check_overrides(override_dir)

    def warm_up(self) -> None:
        """Compile every template on a background thread.

        Compiling costs 5-20 ms a template, paid on first use, between one stage's answers and the
        next stage's requests; done here, it overlaps the snapshot and the first model calls. A
        template that fails to compile is left for `render` to report.
        """
        threading.Thread(target=self._compile_all, name="llmtrade-prompts-warm-up", daemon=True).start()

    def _compile_all(self) -> None:
        for name in self._env.list_templates(extensions=["j2"]):
            with contextlib.suppress(jinja2.TemplateError, UnicodeDecodeError, OSError):
                self._env.get_template(name)

    def _snapshot_table(self, snapshot: Any) -> str:
        """`_snapshot.j2` rendered for `snapshot` (its trailing newline left to the caller's line), once per
        snapshot object: a weekly run renders ~20 prompts over one snapshot, 12 of them (peer review) before
        any request goes out, and the table is the bulk of each. Keyed by identity, and the snapshot is held,
        so a new or changed snapshot (a frozen model is changed only by making a new one) renders afresh."""
        cached = self._snapshot_cache
        if cached is not None and cached[0] is snapshot:
            return cached[1]
        text = self._env.get_template("_snapshot.j2").render(snapshot=snapshot).removesuffix("\n")
        self._snapshot_cache = (snapshot, text)
        return text

    def _json(self, value: Any) -> str:
        """The `json` filter, made once per frozen model object: a week's committee shows each pitch to every other
        reviewer and to the chairman (16 renders of 4 pitches, ~0.5 ms each). Keyed by identity with the object
        held (its id is not reused while cached); a frozen model is changed only by making a new one. Other values
        are rendered every time."""
        if not getattr(type(value), "model_config", {}).get("frozen"):
            return _to_json(value)
        return self._json_cache.of(value, _to_json)  # a week's pitches are a handful: 64 is plenty

    def render(self, role: str, **variables: Any) -> RenderedPrompt:
        return RenderedPrompt(
            system=self._render(f"{role}.system.j2", variables),
            user=self._render(f"{role}.user.j2", variables),
        )

    def render_template(self, name: str, **variables: Any) -> str:
        """One template (`role.system.j2`, ...) rendered and stripped, as `render` renders each; errors as its."""
        return self._render(name, variables)

    def source_digest(self, name: str) -> str:
        """The sha256 (hex) of the text `name` renders from now (an override's, else the packaged one), read once
        per compiled template: an edited file compiles anew and is read again. PromptError when there is none."""
        try:
            template = self._env.get_template(name)
        except jinja2.TemplateNotFound:
            raise PromptError(f"prompt template {name} not found") from None
        kept = self._digests.get(name)
        if kept is not None and kept[0] is template:
            return kept[1]
        loader = self._env.loader
        source = loader.get_source(self._env, name)[0] if loader is not None else ""
        digest = hashlib.sha256(source.encode()).hexdigest()
        self._digests[name] = (template, digest)
        return digest

    def source_of(self, template: str) -> str:
        """Where a template comes from (the override folder or the package), for `--help`-style listings."""
        if self.override_dir is not None and (self.override_dir / template).is_file():
            return str(self.override_dir / template)
        return "packaged"

    def _check_overrides(self, folder: Path) -> None:
        """Read and parse every override now, before a run spends a model call: a template that is not
        UTF-8, does not parse, or overrides nothing (a misspelt name is silently unused) is a
        ConfigError naming the file and line. Names starting with '_' are partials for {% include %}."""
        if not folder.is_dir():
            what = "does not exist" if not folder.exists() else "is not a folder"
            raise ConfigError(str(folder), message=f"the prompt override folder {what} (LLMTRADE_PROMPTS_DIR)")
        # The package folder's templates, not its Python files (a rename hint offered renderer.py: a new user's trial).
        packaged = {n for n in jinja2.PackageLoader("llmtrade", "prompts").list_templates() if n.endswith(".j2")}
        errors: list[ConfigError] = []
        for path in sorted(folder.glob("*.j2")):
            try:
                if path.name not in packaged and not path.name.startswith("_"):
                    known = ", ".join(sorted(n for n in packaged if not n.startswith("_")))
                    raise ConfigError(
                        str(path), message=f"overrides no packaged template; rename it to one of: {known}"
                    )
                text = read_text(path, str(path), restore="remove the override to use the packaged template")
                tree = self._env.parse(text, path.name, str(path))
                # Compiled too: an unknown filter or test is refused only there, and would fail the run's first render.
                self._env.compile(text, path.name, str(path))
                unknown = self._unknown_variables(path.name, tree)
                if unknown:
                    raise ConfigError(str(path), unknown)
            except ConfigError as exc:
                errors.append(exc)
            except jinja2.TemplateSyntaxError as exc:  # TemplateAssertionError (an unknown filter) is one too
                what = "template syntax error" if type(exc) is jinja2.TemplateSyntaxError else "template error"
                problem = ConfigProblem(f"line {exc.lineno}", f"{what}: {exc.message}")
                errors.append(ConfigError(str(path), [problem]))
        if errors:
            raise ConfigError.combine(errors)

    def _unknown_variables(self, name: str, tree: nodes.Template) -> list[ConfigProblem]:
        """The variables override `name` uses that its prompt is not given (each at its first line): StrictUndefined
        would fail the run's first render of it, after the week's research was paid for. A role's templates are
        given what its packaged ones use (`given`); a partial of the user's own (no packaged one) is not checked."""
        given = self._given(name)
        if given is None:
            return []
        used = meta.find_undeclared_variables(tree) - set(self._env.globals)
        lines: dict[str, int] = {}
        for node in tree.find_all(nodes.Name):
            if node.ctx == "load":
                lines.setdefault(node.name, node.lineno)
        offered = ", ".join(sorted(given)) or "nothing"
        return [
            ConfigProblem(
                f"line {lines.get(variable, 1)}",
                f"uses {variable!r}, which this prompt is not given (it is given: {offered})",
            )
            for variable in sorted(used - given, key=lambda v: (lines.get(v, 1), v))
        ]

    def _given(self, name: str) -> frozenset[str] | None:
        """The variables template `name` is rendered with: a role's (`role.system.j2`, `role.user.j2`, rendered with the
        same ones) are those its packaged templates use, and `_PASSED_UNUSED`'s; a packaged partial's, those it uses."""
        packaged = jinja2.PackageLoader("llmtrade", "prompts")
        if name.startswith("_"):
            names = [name] if name in packaged.list_templates() else []
        else:
            role = name.split(".", 1)[0]
            names = [f"{role}.system.j2", f"{role}.user.j2"]
        if not names:
            return None
        used: set[str] = set(_PASSED_UNUSED.get(name.split(".", 1)[0], ()))
        for each in names:
            source = packaged.get_source(self._env, each)[0]
            used |= meta.find_undeclared_variables(self._env.parse(source)) - set(self._env.globals)
        return frozenset(used)

    def _constant(self, name: str, template: jinja2.Template) -> str | None:
        """The text of `template` when it is plain text (no tag, no variable: most system prompts), made once per
        compiled template (a changed override compiles anew, and is looked at again); None for any other."""
        kept = self._constants.get(name)
        if kept is not None and kept[0] is template:
            return kept[1]
        loader = self._env.loader
        source = loader.get_source(self._env, name)[0] if loader is not None else ""
        body = self._env.parse(source).body
        plain = all(
            isinstance(node, nodes.Output) and all(isinstance(part, nodes.TemplateData) for part in node.nodes)
            for node in body
        )
        text = template.render().strip() if plain else None
        self._constants[name] = (template, text)
        return text

    def _render(self, name: str, variables: dict[str, Any]) -> str:
        try:
            template = self._env.get_template(name)
            constant = self._constant(name, template)
            return constant if constant is not None else template.render(**variables).strip()
        except jinja2.TemplateNotFound:
            raise PromptError(f"prompt template {name} not found") from None
        except jinja2.UndefinedError as exc:
            given = ", ".join(sorted(variables)) or "none"
            raise PromptError(f"prompt template {name}: {exc.message} (variables given: {given})") from None
        except jinja2.TemplateSyntaxError as exc:
            raise PromptError(f"prompt template {exc.filename or name}, line {exc.lineno}: {exc.message}") from None
        except UnicodeDecodeError as exc:  # an override changed after the check in __init__
            raise PromptError(f"prompt template {name} is not UTF-8 ({exc.reason}); save it as UTF-8") from None
