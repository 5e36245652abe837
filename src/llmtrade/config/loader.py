"""Load and validate the YAML config folder; every failure names the file, field path and value."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from llmtrade.config import rules
from llmtrade.config.files import read_text
from llmtrade.config.models import CONFIG_FILES, Config
from llmtrade.config.problems import EXTENSION, problem
from llmtrade.config_errors import ConfigError, ConfigProblem
from llmtrade.errors import UsageError
from llmtrade.exits import path_error

PACKAGED = "packaged defaults"


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    # Where the files came from: a folder path, or PACKAGED.
    source: str


def packaged_defaults() -> Traversable:
    return resources.files("llmtrade.config").joinpath("defaults")


def load_config(config_dir: Path | None = None, *, environment: rules.Environment | None = None) -> LoadedConfig:
    """Read the five files from `config_dir`, or the packaged defaults when it is None.

    Every file is read and checked before anything is refused, so one error reports every broken
    file and every broken rule (config/rules.py), not just the first. `environment`: what the command's
    environment decides (rules.Environment); None: nothing is chosen outside the files."""
    if config_dir is None:
        folder: Traversable | Path = packaged_defaults()
        source = PACKAGED
    else:
        folder = config_dir.expanduser()
        source = str(folder)
        if not folder.exists():
            raise UsageError(f"config folder {folder} does not exist (create one with `llmtrade init {folder}`)")
        if not folder.is_dir():
            raise UsageError(f"config folder {folder} is a file, not a folder (`llmtrade init DIR` writes one)")
    parts: dict[str, BaseModel] = {}
    errors: dict[str, ConfigError] = {}
    near = _near_names(folder) if isinstance(folder, Path) else {}
    for filename, model in CONFIG_FILES.items():
        label = file_label(source, filename)
        try:
            if filename in near:
                raise _near_name_error(label, filename, near[filename], there=folder.joinpath(filename).exists())
            text = read_text(folder.joinpath(filename), label, restore="`llmtrade init DIR` writes a complete set")
            parts[filename] = _parse(label, text, model)
        except ConfigError as exc:
            errors[filename] = exc
    found: dict[str, list[ConfigProblem]] = {}
    for finding in rules.check(parts, environment or rules.Environment()):
        found.setdefault(finding.file, []).append(finding.problem)
    for filename, problems in found.items():
        errors[filename] = ConfigError(file_label(source, filename), problems)
    if errors:
        raise ConfigError.combine([errors[name] for name in CONFIG_FILES if name in errors])
    config = Config(**{name.removesuffix(".yaml"): part for name, part in parts.items()})
    return LoadedConfig(config, source)


def _near_names(folder: Path) -> dict[str, list[str]]:
    """Each config file's near names in `folder` (`risk.yml`, `Risk.yaml`, `risk.YAML`): files a user may have
    edited believing llmtrade reads them. It reads the exact names only, so a `risk.yml` beside `risk.yaml` was never
    read and never mentioned: risk limits tightened there did not apply (a trial)."""
    try:
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
    except OSError:
        return {}  # the files' own reads say what is wrong with the folder
    found: dict[str, list[str]] = {}
    for name in names:
        lowered = name.lower().removesuffix(".txt")  # Notepad's own extension, hidden by Windows (risk.yaml.txt)
        if lowered.endswith(".yml"):
            lowered = lowered.removesuffix(".yml") + ".yaml"
        if lowered in CONFIG_FILES and name != lowered and not _same_file(folder / name, folder / lowered):
            found.setdefault(lowered, []).append(name)
    return found


def _same_file(a: Path, b: Path) -> bool:
    """Whether two names are one file (a case-insensitive file system reads risk.yaml from Risk.yaml)."""
    try:
        return a.samefile(b)
    except OSError:
        return False


def _near_name_error(label: str, filename: str, near: list[str], *, there: bool) -> ConfigError:
    names, be = " and ".join(near), "are" if len(near) > 1 else "is"
    if there:
        return ConfigError(
            label,
            message=f"{names} {be} beside it, and llmtrade reads {filename} only: merge what you changed in {names} "
            f"into {filename} and remove {'them' if len(near) > 1 else 'it'}",
        )
    return ConfigError(
        label, message=f"file is missing, and {names} {be} there: llmtrade reads {filename} (rename {near[0]})"
    )


def file_label(source: str, filename: str) -> str:
    """How a message names one of the files: its path, or "assets.yaml (packaged defaults)"."""
    return f"{source}/{filename}" if source != PACKAGED else f"{filename} ({PACKAGED})"


def parse_file(label: str, text: str, model: type[BaseModel]) -> BaseModel:
    """Parse one file's text into its model (exposed for tests and `config validate` of one file)."""
    return _parse(label, text, model)


def write_defaults(target: Path, *, overwrite: bool = False) -> list[Path]:
    """Copy the packaged defaults into `target`; refuses to overwrite unless asked."""
    target = target.expanduser()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, no permission, a read-only file system; or a full disk (75)
        raise path_error(f"cannot create the config folder {target}", exc) from exc
    existing = [target / name for name in CONFIG_FILES if (target / name).exists()]
    if existing and not overwrite:
        names = ", ".join(p.name for p in existing)
        raise UsageError(f"{target} already has {names}; pass --force to overwrite")
    written = []
    for name in CONFIG_FILES:
        path = target / name
        try:
            path.write_text(packaged_defaults().joinpath(name).read_text(encoding="utf-8"), encoding="utf-8")
        except OSError as exc:
            raise path_error(f"cannot write {path}", exc) from exc
        written.append(path)
    return written


_MERGE = "tag:yaml.org,2002:merge"


class _Strict:
    """A safe loader's constructor that refuses a key given twice in one mapping: PyYAML keeps the last silently,
    so a second `live_trading_enabled:` further down would win unseen."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if node.flow_style:
            _check_flow_commas(node)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == _MERGE:  # `<<: *defaults`: a key the anchor's mapping gives may be given again here
                continue
            key = self.construct_object(key_node, deep=deep)  # type: ignore[attr-defined]
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping", node.start_mark, f"key {key!r} is given twice", key_node.start_mark
                )
            seen.add(key)
        # Merge keys, as SafeLoader's own construct_mapping does first: constructing `<<` as a key failed with "could
        # not determine a constructor for the tag 'tag:yaml.org,2002:merge'" (a trial's shared provider settings).
        self.flatten_mapping(node)  # type: ignore[attr-defined]
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc]

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        # PyYAML refuses a bad merge at the merged value's own line, which for `<<: *alias` is the anchor's, far from
        # the `<<:` the user wrote (a trial: a list anchor merged was blamed on the list's line).
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                _check_merge(key_node, value_node)
        super().flatten_mapping(node)  # type: ignore[misc]

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        # PyYAML raises a bare ValueError for a date-shaped value that is no date (2024-13-45). It stays the text it
        # is, and the field that wants a date refuses it by its path and value, as it does 30/09/2024 (a new user's
        # trial: refused here, as malformed YAML at a line and column, the field not named).
        try:
            return super().construct_yaml_timestamp(node)  # type: ignore[misc]
        except ValueError:
            return node.value

    def construct_yaml_bool(self, node: yaml.ScalarNode) -> Any:
        # YAML 1.1 (PyYAML) reads yes/no/on/off as booleans: `live_trading_enabled: yes` turned live trading on, in a
        # new user's trial, where the README promises any switch but true/false refused. As YAML 1.2's core schema,
        # only true and false are booleans; the rest stay text, which a switch refuses and a symbol (ON) keeps.
        if node.value.lower() in ("true", "false"):
            return node.value.lower() == "true"
        return node.value

    def construct_yaml_int(self, node: yaml.ScalarNode) -> Any:
        # YAML 1.1 (PyYAML) reads a leading zero as octal: `max_open_positions: 010` loaded as 8, silently (a new
        # user's trial). As YAML 1.2's core schema, digits with a leading zero are decimal.
        digits = node.value.replace("_", "")
        if ":" in digits:
            # YAML 1.1 reads 9:00 as 540 (base 60), so `time: 9:00` was refused as a number where "09:00" worked (a
            # new user's trial). YAML 1.2's core schema has no base 60: it stays the text written.
            return node.value
        if _OCTAL_1_1.match(digits):
            return int(digits, 10)
        return super().construct_yaml_int(node)  # type: ignore[misc]

    def construct_yaml_float(self, node: yaml.ScalarNode) -> Any:
        # As construct_yaml_int: YAML 1.1's base-60 floats (1:30.5) are text in YAML 1.2.
        if ":" in node.value:
            return node.value
        return super().construct_yaml_float(node)  # type: ignore[misc]


_OCTAL_1_1 = re.compile(r"^[-+]?0[0-7]+$")


def _check_flow_commas(node: yaml.MappingNode) -> None:
    """Refuse `{..., starting_cash: 100,000}` at its line: YAML reads a number and then a second entry, `000` with no
    value, which was refused as "accounts[5][0]: must have text keys", naming neither the setting nor the comma."""
    for (key, value), (after, nothing) in zip(node.value, node.value[1:], strict=False):
        if (
            isinstance(value, yaml.ScalarNode)
            and value.tag in (_INT, _FLOAT)
            and isinstance(after, yaml.ScalarNode)
            and not after.style  # plain (None, or "" from LibYAML)
            and re.fullmatch(r"[0-9]+(\.[0-9]*)?", after.value)
            and isinstance(nothing, yaml.ScalarNode)
            and nothing.tag.endswith(":null")
            and nothing.value == ""
        ):
            written = f"{key.value}: {value.value},{after.value}"
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"`{written}` is read as two entries, {key.value}: {value.value} and {after.value} with no value: "
                f"inside {{ }} a comma separates entries: write {value.value}{after.value}",
                value.start_mark,
            )


_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


def _check_merge(key: yaml.Node, value: yaml.Node) -> None:
    """Refuse a merge of anything but a mapping or a list of mappings at the `<<:` line, saying what it was given."""
    if isinstance(value, yaml.MappingNode):
        return
    given = _merged(value, key)
    if isinstance(value, yaml.SequenceNode):
        bad = [item for item in value.value if not isinstance(item, yaml.MappingNode)]
        if not bad:
            return
        given += f" holding {_merged(bad[0], key)}"
    raise yaml.constructor.ConstructorError(
        None, None, f"`<<:` merges a mapping or a list of mappings, but was given {given}", key.start_mark
    )


def _merged(node: yaml.Node, key: yaml.Node) -> str:
    """What a merge was given, and its line when elsewhere (an anchor's)."""
    line = node.start_mark.line + 1
    where = f" (at line {line})" if line != key.start_mark.line + 1 else ""
    if isinstance(node, yaml.ScalarNode):
        return f"nothing{where}" if node.tag.endswith(":null") else f"the value {node.value!r}{where}"
    return f"{'a list' if isinstance(node, yaml.SequenceNode) else 'a mapping'}{where}"


class _StrictLoader(_Strict, yaml.SafeLoader):
    """The pure-Python parser: its messages name what it found (`found character '\\t' that cannot start any
    token`, where LibYAML's do not), so a file LibYAML refused is read again with it for the message."""


# LibYAML's parser where PyYAML was built with it (its wheels are): reading the packaged config's five files took
# 16.8 ms with the pure-Python one, 2.2 ms so (load_config, mean of 20), at every command's start.
_FastStrictLoader = type("_FastStrictLoader", (_Strict, getattr(yaml, "CSafeLoader", yaml.SafeLoader)), {})

for _loader in {_StrictLoader, _FastStrictLoader}:
    _loader.add_constructor("tag:yaml.org,2002:timestamp", _loader.construct_yaml_timestamp)
    _loader.add_constructor("tag:yaml.org,2002:bool", _loader.construct_yaml_bool)
    _loader.add_constructor("tag:yaml.org,2002:int", _loader.construct_yaml_int)
    _loader.add_constructor("tag:yaml.org,2002:float", _loader.construct_yaml_float)


def load_yaml(text: str) -> Any:
    """`text` parsed as the config files are (a key given twice, a date that is none and a bad merge refused; only
    true and false are booleans): for another YAML file the user writes, such as a sweep file. YAMLError as `_load`."""
    return _load(text)


def yaml_problem(text: str, exc: yaml.YAMLError) -> str:
    """`exc` (from `load_yaml(text)`) in one line: where (line, column) and what."""
    found = _yaml_problem(text, exc)
    return f"{found.path}: {found.message}" if found.path else found.message


def _load(text: str) -> Any:
    """`text` parsed by a strict safe loader (no arbitrary objects); a YAMLError with the pure parser's message."""
    try:
        return yaml.load(text, Loader=_FastStrictLoader)
    except yaml.YAMLError:
        return yaml.load(text, Loader=_StrictLoader)  # raises again, saying more


def _parse(label: str, text: str, model: type[BaseModel]) -> BaseModel:
    try:
        data = _load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(label, [_yaml_problem(text, exc)]) from None
    if data is None:
        raise ConfigError(
            label, message="file is empty; expected a YAML mapping (`llmtrade init DIR` writes a complete file)"
        )
    if not isinstance(data, dict):
        raise ConfigError(label, [ConfigProblem("", "expected a YAML mapping at the top level", data)])
    # Top-level keys starting `x-` are the file's own, for anchors that `<<: *name` merges (docker compose's extension
    # fields): every other unknown key stays an error.
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith(EXTENSION))}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(label, [problem(err, model) for err in exc.errors()]) from None


def _yaml_problem(text: str, exc: yaml.YAMLError) -> ConfigProblem:
    mark = getattr(exc, "problem_mark", None)
    key = getattr(exc, "context_mark", None)
    if getattr(exc, "context", None) == "while scanning a simple key" and key is not None:
        # `key 10` or `key:10`: PyYAML finds the missing ': ' on the next line; the key is on this one (a trial).
        mark = key
    if mark is not None:
        where = f"line {mark.line + 1}, column {mark.column + 1}"
    elif isinstance(exc, yaml.reader.ReaderError):  # a control character YAML does not allow
        before = text[: exc.position]
        where = f"line {before.count(chr(10)) + 1}, column {exc.position - (before.rfind(chr(10)) + 1) + 1}"
        return ConfigProblem(where, f"malformed YAML: character {exc.character!r} is not allowed; remove it")
    else:
        where = ""
    problem = getattr(exc, "problem", None) or str(exc)
    if problem.startswith("found character '\\t'"):
        # PyYAML's "found character '\t' that cannot start any token" said neither why nor what to do (a trial).
        problem = "found a tab, and YAML indents with spaces only: replace the tab with spaces"
    hint = next((hint for start, hint in _SLIPS.items() if problem.startswith(start)), "")
    return ConfigProblem(where, f"malformed YAML: {problem}{hint}")


# PyYAML's words for the commonest slips, and what to change (a trial read them as the parser's, not its own).
_INDENTATION = (
    "this line's indentation does not match the lines above it (each key of a mapping starts in the same column)"
)
_SLIPS = {
    "could not find expected ':'": ": a key needs ': ' after it, with a space (max_open_positions: 10)",
    "expected <block end>": f": {_INDENTATION}",
    "mapping values are not allowed here": f": {_INDENTATION}, or a value holds ': ' and needs quotes",
}
