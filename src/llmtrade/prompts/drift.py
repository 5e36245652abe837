"""What an override leaves out that the packaged template of its name shows the model: said, never refused.

A user who copied a packaged template months ago keeps a copy that omits what later versions show the model (the
stale-close lines of `_snapshot.j2` and the checkpoint's prompt, the close-only notice of `_close_only.j2`), and it
renders without an error. The renderer refuses an override that uses a variable its prompt is not given
(renderer.py `_unknown_variables`); this is the other way round, and only a warning: an override may leave things out
on purpose. Worked out once, when the renderer checks its overrides, never per render.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from jinja2 import meta, nodes
from jinja2.defaults import DEFAULT_NAMESPACE

from llmtrade.risk.stale import STALE_AFTER

# A global that renders a packaged partial (renderer.py `_snapshot_table`): calling it shows what including it would.
_RENDERS: dict[str, str] = {"snapshot_table": "_snapshot.j2"}

_STALE = f"more than {STALE_AFTER} sessions old"
_SNAPSHOT = f"the market snapshot table and its word on closes {_STALE}"
_CLOSE_ONLY = (
    "no word that a symbol may only be closed or cut: the model may ask to open or add to it, which is refused"
)
_OUTSIDE = "no word that a held symbol is in no universe this week and may only be closed or cut"
_MEMORY = "the similar past setups recalled from the committee's memory"

# What leaving a name out means to the model, where a few words say it; any other name is listed bare. Names meaning
# the same are said together.
_MEANS: dict[str, str] = {
    "stale": f"no word that the position's price is a close {_STALE}: the model may take it as current",
    "stale_closes": f"no word of closes {_STALE}: the model may take them as current",
    "snapshot_table": _SNAPSHOT,
    "_snapshot.j2": _SNAPSHOT,
    "snapshot": "the market snapshot",
    "_close_only.j2": _CLOSE_ONLY,
    "close_only": _CLOSE_ONLY,
    "_close_only_outside.j2": _OUTSIDE,
    "outside": _OUTSIDE,
    "_memory.j2": _MEMORY,
    "memory": _MEMORY,
}


def _said(missing: list[str]) -> str:
    """`missing` as a warning lists it: names meaning the same together, with what they mean; the others bare."""
    groups: dict[str, list[str]] = {}
    for name in missing:
        groups.setdefault(_MEANS.get(name, name), []).append(name)
    return "; ".join(
        ", ".join(repr(n) for n in names) + (f" ({meaning})" if meaning in _MEANS.values() else "")
        for meaning, names in groups.items()
    )


def _parse(env: jinja2.Environment, loader: jinja2.BaseLoader, name: str) -> nodes.Template | None:
    try:
        return env.parse(loader.get_source(env, name)[0], name)
    except (jinja2.TemplateError, UnicodeDecodeError, OSError):
        return None  # not there, or unreadable: the override check names it


def _direct(env: jinja2.Environment, tree: nodes.Template) -> set[str]:
    """The names `tree` uses itself: its free variables, the renderer's globals it calls (`stale_closes`; jinja's own,
    `range`..., left out) and the templates it includes, extends or imports by a literal name."""
    # find_undeclared_variables leaves out the environment's globals: they are looked for by name.
    ours = set(env.globals) - set(DEFAULT_NAMESPACE)
    used = set(meta.find_undeclared_variables(tree))
    used |= {n.name for n in tree.find_all(nodes.Name) if n.ctx == "load" and n.name in ours}
    used |= {name for name in meta.find_referenced_templates(tree) if name is not None}  # None: a computed name
    return used


def _shown(env: jinja2.Environment, names: list[str]) -> set[str]:
    """Every name templates `names` show, as they render now (overrides first): through the templates they include,
    and the partial a global renders (`_RENDERS`), either way of showing it counting as the other."""
    loader = env.loader
    assert loader is not None
    shown: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        tree = _parse(env, loader, name)
        if tree is None:
            continue
        used = _direct(env, tree)
        used |= {_RENDERS[g] for g in used if g in _RENDERS}
        used |= {g for g, partial in _RENDERS.items() if partial in used}
        todo += [n for n in used if n.endswith(".j2") and n not in shown]
        shown |= used
    return shown


def _role_templates(name: str) -> list[str]:
    """The templates rendered with `name`'s variables: a role's two (`role.system.j2`, `role.user.j2`), a partial
    itself."""
    if name.startswith("_"):
        return [name]
    role = name.split(".", 1)[0]
    return [f"{role}.system.j2", f"{role}.user.j2"]


def left_out(env: jinja2.Environment, overrides: list[Path]) -> tuple[str, ...]:
    """One warning per override (of a packaged template) that leaves out names the packaged template of its name uses:
    the file, the names, and what each means to the model where `_MEANS` says it. A name counts as shown when the
    override or its role's other template (both rendered with the same variables), as they render now, use it."""
    packaged = jinja2.PackageLoader("llmtrade", "prompts")
    there = set(packaged.list_templates())
    notes: list[str] = []
    for path in overrides:
        tree = _parse(env, packaged, path.name) if path.name in there else None
        if tree is None:
            continue
        missing = sorted(_direct(env, tree) - _shown(env, _role_templates(path.name)))
        if not missing:
            continue
        notes.append(
            f"prompt override {path} leaves out what the packaged {path.name} shows the model: {_said(missing)}. "
            "It still renders (an override may leave things out); if it is a copy made before these were added, "
            "copy the packaged template again and redo your changes"
        )
    return tuple(notes)
