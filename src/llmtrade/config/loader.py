"""Load and validate the YAML config folder; every failure names the file, field path and value."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from llmtrade.config.models import CONFIG_FILES, AccountRole, Config
from llmtrade.errors import ConfigError, ConfigProblem, UsageError

PACKAGED = "packaged defaults"


@dataclass(frozen=True)
class LoadedConfig:
    config: Config
    # Where the files came from: a folder path, or PACKAGED.
    source: str


def packaged_defaults() -> Traversable:
    return resources.files("llmtrade.config").joinpath("defaults")


def load_config(config_dir: Path | None = None) -> LoadedConfig:
    """Read the five files from `config_dir`, or the packaged defaults when it is None."""
    if config_dir is None:
        folder: Traversable | Path = packaged_defaults()
        source = PACKAGED
    else:
        folder = config_dir.expanduser()
        source = str(folder)
        if not folder.is_dir():
            raise UsageError(f"config folder {folder} does not exist (create one with `llmtrade init {folder}`)")
    parts: dict[str, BaseModel] = {}
    for filename, model in CONFIG_FILES.items():
        entry = folder.joinpath(filename)
        label = f"{source}/{filename}" if source != PACKAGED else f"{filename} ({PACKAGED})"
        if not entry.is_file():
            raise ConfigError(label, message="file is missing (`llmtrade init DIR` writes a complete set)")
        parts[filename.removesuffix(".yaml")] = _parse(label, entry.read_text(encoding="utf-8"), model)
    config = Config(**parts)
    _cross_check(config, source)
    return LoadedConfig(config, source)


def parse_file(label: str, text: str, model: type[BaseModel]) -> BaseModel:
    """Parse one file's text into its model (exposed for tests and `config validate` of one file)."""
    return _parse(label, text, model)


def write_defaults(target: Path, *, overwrite: bool = False) -> list[Path]:
    """Copy the packaged defaults into `target`; refuses to overwrite unless asked."""
    target = target.expanduser()
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, no permission, a read-only or virtual file system
        raise UsageError(f"cannot create the config folder {target}: {exc.strerror or exc}") from exc
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
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc
        written.append(path)
    return written


def _parse(label: str, text: str, model: type[BaseModel]) -> BaseModel:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(label, [ConfigProblem(where, f"malformed YAML: {problem}")]) from None
    if data is None:
        raise ConfigError(label, message="file is empty; expected a YAML mapping")
    if not isinstance(data, dict):
        raise ConfigError(label, [ConfigProblem("", "expected a YAML mapping at the top level", data)])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(label, [_problem(err) for err in exc.errors()]) from None


def _problem(err: Any) -> ConfigProblem:
    path = _path(err["loc"])
    message = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        return ConfigProblem(path, "unknown key (not a setting of this file)")
    value = err.get("input")
    if isinstance(value, (dict, list)):
        return ConfigProblem(path, message)  # the message names the culprit; dumping the whole list does not help
    return ConfigProblem(path, message, value)


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _cross_check(config: Config, source: str) -> None:
    """Rules that tie one file to another; reported against the file that holds the reference."""

    def label(name: str) -> str:
        return f"{source}/{name}" if source != PACKAGED else f"{name} ({PACKAGED})"

    models, accounts = config.models, config.accounts
    problems: list[ConfigProblem] = []
    for where, ref in models.model_refs():
        if ref.provider not in models.providers:
            known = ", ".join(sorted(models.providers))
            problems.append(ConfigProblem(f"{where}.provider", f"no such provider (known: {known})", ref.provider))
    seen: dict[str, str] = {}
    for i, pm in enumerate(models.pms):
        account = accounts.account(pm.account)
        path = f"pms[{i}].account"
        if account is None:
            known = ", ".join(a.id for a in accounts.accounts)
            problems.append(ConfigProblem(path, f"no such account in accounts.yaml (known: {known})", pm.account))
        elif account.role is not AccountRole.PM:
            problems.append(ConfigProblem(path, f"account has role {account.role.value}, not pm", pm.account))
        elif pm.account in seen:
            problems.append(ConfigProblem(path, f"account already belongs to PM {seen[pm.account]}", pm.account))
        else:
            seen[pm.account] = pm.id
    chair = accounts.account(models.chairman.account)
    if chair is None:
        problems.append(ConfigProblem("chairman.account", "no such account in accounts.yaml", models.chairman.account))
    elif chair.role is not AccountRole.CHAIRMAN:
        problems.append(
            ConfigProblem("chairman.account", f"account has role {chair.role.value}, not chairman", chair.id)
        )
    if problems:
        raise ConfigError(label("models.yaml"), problems)
    orphans = [
        ConfigProblem(f"accounts[{i}].id", "role pm, but no PM in models.yaml trades it", a.id)
        for i, a in enumerate(accounts.accounts)
        if a.role is AccountRole.PM and a.id not in seen
    ]
    if orphans:
        raise ConfigError(label("accounts.yaml"), orphans)
