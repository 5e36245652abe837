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
from llmtrade.config_errors import ConfigError, ConfigProblem
from llmtrade.errors import LlmtradeError, PromptError
from llmtrade.memo import IdentityMemo
from llmtrade.prompts.compiled import COMPILED
from llmtrade.prompts.drift import left_out
from llmtrade.prompts.read_once import ReadOnce
from llmtrade.risk.stale import stale_closes


@dataclass(frozen=True)
class RenderedPrompt:
    system: str
    user: str


# Variables a role's prompt is rendered with that its packaged templates do not use (agents/picker.py passes the
# candidates themselves beside their table): an override may use them. Every other variable given is used.
_PASSED_UNUSED: dict[str, tuple[str, ...]] = {"picker": ("candidates",)}

# Frozen models whose `json` text a renderer keeps (PromptRenderer._json).
_JSON_KEPT = 64

# The packaged templates' folder (this module's): a traceback frame of a `.j2` file here is a packaged template's.
_PACKAGED_FOLDER = Path(__file__).resolve().parent


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


# How a message names what each node that loads another template does with it.
_VERBS: dict[type[nodes.Node], str] = {
    nodes.Extends: "extends",
    nodes.Include: "includes",
    nodes.Import: "imports",
    nodes.FromImport: "imports from",
}


def _literal_names(expression: nodes.Expr) -> list[str]:
    """The template names an `{% include %}`'s (extends', import's) expression gives whatever the variables: a string,
    or a list or tuple of strings; none for a name computed at render time."""
    if isinstance(expression, nodes.Const) and isinstance(expression.value, str):
        return [expression.value]
    if isinstance(expression, (nodes.Tuple, nodes.List)):
        items = expression.items
        if items and all(isinstance(i, nodes.Const) and isinstance(i.value, str) for i in items):
            return [i.value for i in items]  # type: ignore[attr-defined]
    return []


def _nowhere(names: list[str], folder: Path | None) -> str:
    """Templates asked for that are not there, as a message says it: the one, or the list's (the first there is)."""
    where = f"in {folder} or packaged" if folder is not None else "packaged"
    if len(names) == 1:
        return f"template {names[0]!r}, which is not {where}"
    return f"the first there is of templates {', '.join(repr(n) for n in names)}: none is {where}"


class PromptRenderer:
    def __init__(self, override_dir: Path | None = None):
        loaders: list[jinja2.BaseLoader] = []
        if override_dir is not None:
            # utf-8-sig: a byte-order mark (Windows editors) would otherwise start the prompt.
            loaders.append(jinja2.FileSystemLoader(str(override_dir), encoding="utf-8-sig"))
        loaders.append(jinja2.PackageLoader("llmtrade", "prompts"))
        self.override_dir = override_dir
        self._env = jinja2.Environment(
            loader=ReadOnce(jinja2.ChoiceLoader(loaders)),
            undefined=jinja2.StrictUndefined,
            autoescape=False,  # prompts are plain text, not HTML
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            # Each template read once per renderer (`ReadOnce`): a run's prompts do not change under it (a backtest of
            # hours keeps the texts it started with, whose digests its calls record), and the check for an edit is a
            # stat of the file per render (jinja's default), some 6,400 a 52-week backtest.
            auto_reload=False,
            bytecode_cache=COMPILED,  # each text compiled once per process, not once per renderer (prompts/compiled.py)
        )
        self._env.filters["json"] = self._json
        self._env.filters["pct"] = pct
        self._env.filters["num"] = num
        self._env.globals["snapshot_table"] = self._snapshot_table
        self._env.globals["stale_closes"] = stale_closes
        self._snapshot_cache: tuple[Any, str] | None = None
        # id -> (a frozen model, its `json` text): see `_json`.
        self._json_cache: IdentityMemo[Any, str] = IdentityMemo(_JSON_KEPT)
        # Template name -> (the compiled template, its text when it is plain text, else None): see `_constant`.
        self._constants: dict[str, tuple[jinja2.Template, str | None]] = {}
        # Template name -> (the compiled template, the sha256 of its text): see `source_digest`.
        self._digests: dict[str, tuple[jinja2.Template, str]] = {}
        # What each override leaves out that its packaged template shows the model (prompts/drift.py): warnings, found
        # once here with the other checks, which the command says once (Container.prompts, `config validate`).
        self.drift: tuple[str, ...] = ()
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
        per template (each compiled once per process: an edit reaches the next command). PromptError when there is
        none."""
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

    def fingerprint(self) -> str:
        """The sha256 (hex) of every template's text as this renderer's renders read it (overrides over the packaged
        ones, partials included; each read once, `ReadOnce`), by name: what a held answer was asked with
        (pipeline/retry.py). Read, not compiled, so a template that does not parse still has one (its render fails as
        before)."""
        digest = hashlib.sha256()
        loader = self._env.loader
        assert loader is not None
        for name in sorted(n for n in loader.list_templates() if n.endswith(".j2")):
            digest.update(name.encode() + b"\0" + loader.get_source(self._env, name)[0].encode() + b"\0")
        return digest.hexdigest()

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
                problems = [*self._missing_templates(folder, tree), *self._unknown_variables(path.name, tree)]
                if problems:
                    raise ConfigError(str(path), problems)
            except ConfigError as exc:
                errors.append(exc)
            except jinja2.TemplateSyntaxError as exc:  # TemplateAssertionError (an unknown filter) is one too
                what = "template syntax error" if type(exc) is jinja2.TemplateSyntaxError else "template error"
                problem = ConfigProblem(f"line {exc.lineno}", f"{what}: {exc.message}")
                errors.append(ConfigError(str(path), [problem]))
        if errors:
            raise ConfigError.combine(errors)
        self.drift = left_out(self._env, sorted(folder.glob("*.j2")))

    def _missing_templates(self, folder: Path, tree: nodes.Template) -> list[ConfigProblem]:
        """The templates an override includes, extends or imports that exist neither in `folder` nor in the package
        (each at its line): jinja2 looks them up only when it renders, so the run's first render failed, after the
        week's research was paid for. The nodes are walked as `meta.find_referenced_templates` walks them, for their
        lines; a name computed at render time cannot be checked, and `ignore missing` asks for none."""
        problems: list[ConfigProblem] = []
        for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
            if isinstance(node, nodes.Include) and node.ignore_missing:
                continue
            names = _literal_names(node.template)
            if not names or any(self._exists(name) for name in names):
                continue  # a list (`{% include ["a.j2", "b.j2"] %}`) renders the first one there is
            problems.append(ConfigProblem(f"line {node.lineno}", f"{_VERBS[type(node)]} {_nowhere(names, folder)}"))
        return problems

    def _exists(self, name: str) -> bool:
        """Whether the environment's loaders (the override folder, then the package) have template `name`."""
        loader = self._env.loader
        if loader is None:
            return False
        try:
            loader.get_source(self._env, name)
        except jinja2.TemplateNotFound:
            return False
        except (UnicodeDecodeError, OSError):
            return True  # there, but unreadable: its own check names it
        return True

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
        """`name` rendered with `variables`, stripped. Whatever fails while it renders is a PromptError naming the
        template's file (an override's path: the file to fix) and line: an override's `{{ week_id + 7 }}` failed the
        run with "unsupported operand type(s) for +: 'datetime.date' and 'int'", nothing saying where."""
        try:
            template = self._env.get_template(name)
            constant = self._constant(name, template)
            return constant if constant is not None else template.render(**variables).strip()
        except jinja2.TemplateNotFound as exc:
            at = self._failed_at(exc)
            if at is None:  # `name` itself
                raise PromptError(f"prompt template {name} not found") from None
            # One a template asks for ({% include %}, extends, import) with a name made at render time, or deleted
            # since the override folder was checked: jinja2's message is the missing name alone, and the run's
            # said the template rendered, as if that one were missing.
            missing = getattr(exc, "templates", None) or [exc.name]
            raise PromptError(
                f"prompt template {self._shown(at[0], name)}, line {at[1]}: asks for "
                f"{_nowhere(missing, self.override_dir)}",
                override=self._is_override(at[0]),
            ) from None
        except jinja2.TemplateSyntaxError as exc:  # an override changed after the check in __init__
            filename = exc.filename or name
            raise PromptError(
                f"prompt template {filename}, line {exc.lineno}: {exc.message}", override=self._is_override(filename)
            ) from None
        except LlmtradeError:
            raise  # one of ours raised through a template (none is today) keeps its meaning and exit code
        except Exception as exc:  # the template's code failed: UndefinedError, a TypeError, a filter's ValueError...
            at = self._failed_at(exc)
            override = self._is_override(at[0]) if at is not None else self.source_of(name) != "packaged"
            if at is None and isinstance(exc, UnicodeDecodeError):  # an override changed after the check in __init__
                raise PromptError(
                    f"prompt template {self.source_of(name)} is not UTF-8 ({exc.reason}); save it as UTF-8",
                    override=override,
                ) from None
            where = f"{self._shown(at[0], name)}, line {at[1]}" if at is not None else self.source_of(name)
            if isinstance(exc, jinja2.UndefinedError):
                what = f"{exc.message} (variables given: {', '.join(sorted(variables)) or 'none'})"
            else:
                what = f"{type(exc).__name__}: {exc}"
            raise PromptError(f"prompt template {where}: {what}", override=override) from None

    def _is_override(self, filename: str) -> bool:
        """Whether template file `filename` is one of the override folder's."""
        return self.override_dir is not None and Path(filename).resolve().parent == self.override_dir.resolve()

    def _failed_at(self, exc: BaseException) -> tuple[str, int] | None:
        """The template file and line `exc` was raised at while rendering, or None when no template's code ran.

        jinja2 rewrites a render's traceback so that each template's frame reads as the template's file (its
        co_filename) at the template's line (its tb_lineno); the innermost one is where it failed (a partial's line
        when it failed in a partial). Only `.j2` files of the override folder or the package's: the filters' and
        globals' frames are renderer.py's, in the package's folder too."""
        folders = {_PACKAGED_FOLDER, *([self.override_dir.resolve()] if self.override_dir is not None else [])}
        found: tuple[str, int] | None = None
        tb = exc.__traceback__
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename.endswith(".j2") and Path(filename).resolve().parent in folders:
                found = (filename, tb.tb_lineno)
            tb = tb.tb_next
        return found

    def _shown(self, filename: str, rendered: str) -> str:
        """A template file as a message names it: an override by its path (the file to fix), a packaged one by its
        name; and the template rendered when the file is a partial it included."""
        path = Path(filename)
        shown = filename if self._is_override(filename) else f"{path.name} (packaged)"
        return shown if path.name == rendered else f"{shown} (included by {rendered})"
