"""A sweep file (`llmtrade backtest sweep SWEEP.yaml`): its axes, checked, and every combination as one run.

The file names the axes; every combination of their values is one run (one whole backtest):

    name: demo                    # 1-24 letters, digits, - or _: the sweep's database is llmtrade_sw_<name>
    mode: offline                 # offline (rules provider) | replay (the cached answers)
    retries: 1                    # further attempts of a run that failed (0-5)
    ranges:                       # date ranges, each any date of its first and last week
      - {from: 2024-01-03, to: 2024-01-24}
    overrides:                    # named config overrides: dotted paths into the config, as the YAML files nest
      base: {}
      tight: {risk.max_position_pct: 0.05}
    model_sets:                   # named model sets: a PM's id (or `chairman`) -> its model
      default: {}
    memory: [true, false]         # the committee's memory on / off (models.yaml memory.enabled)
    seeds: [7, 11]                # the synthetic market's seed (assets.yaml market_data.synthetic_seed)

Every axis but `ranges` may be left out (one value: the config as it is); one written with no value is refused.
A run is identified by the sha256 of its inputs: the config after its overrides, the prices' fingerprint, the weeks,
the mode and the code version (`run_id`), so a rerun of the sweep skips every run already finished. Every problem is
a UsageError (exit 2) naming the file and the key.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from llmtrade import __version__
from llmtrade.app.backtest_inputs import range_weeks
from llmtrade.config import rules
from llmtrade.config.files import read_text
from llmtrade.config.history import earlier_shapes
from llmtrade.config.loader import LoadedConfig, load_yaml, yaml_problem
from llmtrade.config.models import Config
from llmtrade.config.problems import EXTENSION, problem
from llmtrade.config.scalars import Count, Flag
from llmtrade.config_errors import ConfigError
from llmtrade.domain.weeks import week_id_for, week_problem
from llmtrade.errors import UsageError
from llmtrade.market.calendar import TradingCalendar

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,23}$"
_AXIS_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$"


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class DateRange(_Strict):
    first: date = Field(alias="from")
    last: date = Field(alias="to")


class SweepFile(_Strict):
    """The file as written; `plan` turns it into runs."""

    name: Annotated[str, Field(pattern=_NAME)]
    mode: Literal["offline", "replay"] = "offline"
    # Strict, as the config's own settings (config/scalars.py): pydantic's lax mode read `seeds: [true]` as seed 1,
    # `memory: [1, 0]` as on/off and `retries: true` as one retry, a mistake run rather than reported.
    retries: Annotated[Count, Field(ge=0, le=5)] = 1
    ranges: Annotated[list[DateRange], Field(min_length=1)]
    overrides: dict[Annotated[str, Field(pattern=_AXIS_NAME)], dict[str, Any]] = Field(default_factory=lambda: {})
    model_sets: dict[Annotated[str, Field(pattern=_AXIS_NAME)], dict[str, str]] = Field(default_factory=lambda: {})
    memory: Annotated[list[Flag], Field(min_length=1)] | None = None
    seeds: Annotated[list[Annotated[Count, Field(ge=0)]], Field(min_length=1)] | None = None

    @field_validator("overrides", "model_sets", "memory", "seeds", mode="before")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        # A key written with no value (`seeds:`, `overrides: {}`) ran the config as it is, as a key left out does: an
        # axis whose values were commented out ran one run where several were meant, and nothing said so.
        if value is None or value == {} or value == []:
            raise ValueError("has no value: give it at least one, or leave the key out to run the config as it is")
        return value


class RunPlan(BaseModel):
    """One combination: its identity (`run_id`, the inputs' sha256), the backtest it is kept under, its
    axes' values and the config it runs with."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    backtest: str  # "<sweep>-<run_id[:12]>": its books are the database llmtrade_bt_<that>
    label: str
    axes: dict[str, str]
    start: date  # first week (a Wednesday)
    end: date  # last week
    mode: Literal["offline", "replay"]
    config: Config
    # The run's id as earlier builds hashed the same inputs (config/history.py), newest first: an upgrade that added
    # config fields goes on with the runs its sweep finished or began (driver.py `as_recorded`), not new ones.
    earlier_ids: tuple[str, ...] = ()
    # What was tried, whatever the prices or the build (`configuration_id`): this build's first, then each earlier
    # build's hash of it. A deflated Sharpe's trial is a configuration, not an axis name (driver.py `earlier_results`).
    configurations: tuple[str, ...] = ()


def read(path: Path) -> SweepFile:
    """The sweep file at `path`, parsed and checked. UsageError (exit 2) naming the file and the key."""
    import yaml  # lazy: only this command reads a sweep file

    try:
        # As the config files are read (config/files.py): UTF-16 with Windows' byte-order mark is read, and bytes that
        # are not UTF-8 are named at their line with how to save the file, not in Python's codec words (a trial).
        text = read_text(path, str(path), restore="give the sweep file itself")
    except ConfigError as exc:
        said = exc.message or "; ".join(str(p) for p in exc.problems)
        raise UsageError(f"sweep file {path}: {said}") from None
    # The config files' loader, not yaml.safe_load: that kept the last of a key given twice with no word (a second
    # `tight:` override replaced the first, which never ran), and read a date that is none as a traceback.
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise UsageError(f"sweep file {path}: {yaml_problem(text, exc)}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"sweep file {path}: expected a mapping with name, ranges and the axes")
    # A top-level `x-` key is the file's own, for anchors that `<<: *name` merges, as in the config files.
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith(EXTENSION))}
    try:
        sweep = SweepFile.model_validate(data)
    except ValidationError as exc:
        raise UsageError(f"sweep file {path}: " + "; ".join(_problem(e, SweepFile) for e in exc.errors())) from exc
    calendar = TradingCalendar()
    for n, span in enumerate(sweep.ranges):
        for key, day in (("from", span.first), ("to", span.last)):
            if (problem := week_problem(day)) is not None:  # as --from and --to: it was a traceback (OverflowError)
                raise UsageError(f"sweep file {path}: key ranges.{n}.{key}: {day} {problem}")
        if week_id_for(span.last) < week_id_for(span.first):
            raise UsageError(f"sweep file {path}: key ranges.{n}: to {span.last} is before from {span.first}")
        # Checked here, as `backtest` checks --from/--to, not by each run after the sweep started (exit 1 per run).
        try:
            range_weeks(span.first, span.last, calendar, keys=("from:", "to:"))
        except UsageError as exc:
            runs = f"range={week_id_for(span.first)}..{week_id_for(span.last)}"  # the runs' label (`plan`)
            raise UsageError(f"sweep file {path}: key ranges.{n} (the runs {runs}): {exc}") from None
    return sweep


def plan(
    path: Path,
    sweep: SweepFile,
    loaded: LoadedConfig,
    *,
    prices: str,
    csv: bool,
    read: Callable[[Config, date, date], str] | None = None,
) -> list[RunPlan]:
    """Every combination of `sweep`'s axes over `loaded`'s config, in a fixed order (ranges, overrides,
    model sets, memory, seeds), each with its run id. `prices` is the prices' fingerprint; `csv` says the
    prices come from files, where a seed changes nothing (more than one seed is then refused). `read`: the
    fingerprint of what a run of a config and range reads of the prices (sweep/prices.py), which its id hashes
    instead of `prices` (an id hashing `prices` is kept as an earlier one: a run recorded under it is the same).

    UsageError (exit 2) naming the file and key for an override of a setting that does not exist, a value
    the config refuses, or a model set naming no PM."""
    if csv and sweep.seeds is not None and len(sweep.seeds) > 1:
        raise UsageError(
            f"sweep file {path}: key seeds: the seed is the synthetic market's, and prices come from a CSV "
            "folder here: several seeds would run the same backtest several times"
        )
    overrides = sweep.overrides or {"config": {}}
    model_sets = sweep.model_sets or {"config": {}}
    memories: list[bool | None] = list(sweep.memory) if sweep.memory is not None else [None]
    seeds: list[int | None] = list(sweep.seeds) if sweep.seeds is not None else [None]
    runs: list[RunPlan] = []
    seen: dict[str, tuple[str, ...]] = {}
    for (r_at, span), (o_name, o_values), (m_name, m_values), (b_at, memory), (s_at, seed) in itertools.product(
        enumerate(sweep.ranges), overrides.items(), model_sets.items(), enumerate(memories), enumerate(seeds)
    ):
        # This combination's keys in the file, each axis's own: what a duplicate is named by.
        keys = (
            f"ranges.{r_at} ({span.first} to {span.last})",
            f"overrides.{o_name}" if sweep.overrides else "",
            f"model_sets.{m_name}" if sweep.model_sets else "",
            "" if memory is None else f"memory.{b_at} ({'true' if memory else 'false'})",
            "" if seed is None else f"seeds.{s_at} ({seed})",
        )
        tree = loaded.config.model_dump(mode="python")
        for key, value in o_values.items():
            _set(path, tree, f"overrides.{o_name}", key, value, sections=loaded.config)
        if tree["assets"]["market_data"]["csv_dir"] != loaded.config.assets.market_data.csv_dir:
            # Every run reads the prices the sweep was given, under their fingerprint: a folder set here ran the
            # sweep's anyway (or, over the synthetic market, the override's under the synthetic fingerprint).
            raise UsageError(
                f"sweep file {path}: key overrides.{o_name}: sets market_data.csv_dir, but every run of a sweep reads "
                "the prices the sweep is given (--csv, LLMTRADE_MARKET_CSV_DIR or the config's csv_dir): sweep "
                "another folder in a sweep of its own"
            )
        _models(path, tree, m_name, m_values)
        if memory is not None:
            tree["models"]["memory"]["enabled"] = memory
        if seed is not None:
            tree["assets"]["market_data"]["synthetic_seed"] = seed
        # Named by the file's keys (its override and model set): `config` is an axis left out, no key of the file
        # ("model_sets.config" was said).
        config = _validated(path, tree, " with ".join(filter(None, keys[1:3])) or "the config")
        start, end = week_id_for(span.first), week_id_for(span.last)
        reads = read(config, span.first, span.last) if read is not None else prices
        run_id = run_hash(config, prices=reads, start=start, end=end, mode=sweep.mode)
        shapes = earlier_shapes(config)
        earlier = tuple(
            run_hash(config, prices=reads, start=start, end=end, mode=sweep.mode, exclude=shape) for shape in shapes
        )
        if reads != prices:  # an earlier build's id hashed the whole folder: the same prices, if it is unchanged
            earlier += tuple(
                run_hash(config, prices=prices, start=start, end=end, mode=sweep.mode, exclude=shape)
                for shape in [None, *shapes]
            )
        configurations = tuple(
            configuration_id(config, start=start, end=end, mode=sweep.mode, exclude=shape) for shape in [None, *shapes]
        )
        axes = {
            "overrides": o_name,
            "models": m_name,
            "memory": "config" if memory is None else ("on" if memory else "off"),
            "seed": "config" if seed is None else str(seed),
            "range": f"{start}..{end}",
        }
        label = " ".join(f"{k}={v}" for k, v in axes.items())
        if run_id in seen:
            # Named by the keys the two differ in: their labels may read alike (seeds: [7, 7], or two ranges of the
            # same weeks), which said "seed=7 ... runs the same backtest as seed=7 ..." and named no key to drop.
            apart = [(mine, theirs) for mine, theirs in zip(keys, seen[run_id], strict=True) if mine != theirs]
            raise UsageError(
                f"sweep file {path}: key {' with '.join(m for m, _ in apart if m) or 'config'} runs the same backtest "
                f"as {' with '.join(t for _, t in apart if t) or 'config'}: the same config, prices and weeks ("
                f"{label}): drop one of them"
            )
        seen[run_id] = keys
        runs.append(
            RunPlan(
                run_id=run_id,
                backtest=f"{sweep.name}-{run_id[:12]}",
                label=label,
                axes=axes,
                start=start,
                end=end,
                mode=sweep.mode,
                config=config,
                earlier_ids=earlier,
                configurations=configurations,
            )
        )
    return runs


def configuration_id(
    config: Config, *, start: date, end: date, mode: str, exclude: dict[Any, Any] | None = None
) -> str:
    """sha256 of what a run tries: the config after its overrides, the weeks and the mode; not the prices' fingerprint
    nor the code version, which make another run (`run_hash`) of the same configuration. Two runs under one override's
    name with other values are two configurations. `exclude`: as `run_hash`'s."""
    document = {
        "config": config.model_dump(mode="json", exclude=exclude),
        "start": start.isoformat(),
        "end": end.isoformat(),
        "mode": mode,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def run_hash(
    config: Config, *, prices: str, start: date, end: date, mode: str, exclude: dict[Any, Any] | None = None
) -> str:
    """sha256 of everything a run's result depends on: config, prices' fingerprint, weeks, mode, code version.
    `exclude`: the config's fields an earlier build did not have (config/history.py `earlier_shapes`)."""
    document = {
        "config": config.model_dump(mode="json", exclude=exclude),
        "prices": prices,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "mode": mode,
        "version": __version__,
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def _problem(error: Any, model: type[BaseModel]) -> str:
    key = ".".join(str(p) for p in error["loc"]) or "(top level)"
    return f"key {key}: {problem(error, model).said}"  # in the config's words, not pydantic's


def _set(path: Path, tree: dict[str, Any], where: str, key: str, value: Any, *, sections: Config) -> None:
    """Set the dotted `key` (list entries by index) in `tree`; refuses a key the config does not have. A mapping set on
    a section of the config (one of `sections`' models, not a mapping of its own such as models.providers) is set key
    by key, as the YAML files nest: `risk: {limits: {max_position_pct: 0.05}}` is `risk.limits.max_position_pct: 0.05`
    (it replaced the whole section, every setting it did not name back to the packaged default, with no word)."""
    node: Any = tree
    parts = key.split(".")
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, dict) and part in node:
            if last and isinstance(value, dict) and _section(sections, parts):
                for inner, inner_value in value.items():
                    _set(path, tree, where, f"{key}.{inner}", inner_value, sections=sections)
            elif last:
                node[part] = copy.deepcopy(value)
            else:
                node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            if last:
                node[int(part)] = copy.deepcopy(value)
            else:
                node = node[int(part)]
        else:
            known = ", ".join(sorted(map(str, node))) if isinstance(node, dict) else f"0..{len(node) - 1}"
            raise UsageError(
                f"sweep file {path}: key {where}.{key}: the config has no {'.'.join(parts[: depth + 1])!r}"
                + (f" (there: {known})" if known else "")
            )


def _section(config: Config, parts: list[str]) -> bool:
    """Whether the dotted `parts` name a section of `config` (a model of settings), not a value or a mapping."""
    node: Any = config
    for part in parts:
        if isinstance(node, BaseModel):
            node = getattr(node, part, None)
        elif isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return isinstance(node, BaseModel)


def _models(path: Path, tree: dict[str, Any], name: str, models: dict[str, str]) -> None:
    pms = {pm["id"]: pm for pm in tree["models"]["pms"]}
    for role, model in models.items():
        if role == "chairman":
            tree["models"]["chairman"]["model"] = model
        elif role in pms:
            pms[role]["model"] = model
        else:
            raise UsageError(
                f"sweep file {path}: key model_sets.{name}.{role}: no PM with that id "
                f"(PMs: {', '.join(sorted(pms))}; or chairman)"
            )


def _validated(path: Path, tree: dict[str, Any], where: str) -> Config:
    try:
        config = Config.model_validate(tree)
    except ValidationError as exc:
        problems = "; ".join(_problem(e, Config) for e in exc.errors())
        raise UsageError(f"sweep file {path}: {where}: {problems}") from exc
    parts = {f"{name}.yaml": getattr(config, name) for name in Config.model_fields}
    findings = rules.check(parts)
    if findings:
        raise UsageError(f"sweep file {path}: {where}: " + "; ".join(f"{f.file}: {f.problem}" for f in findings))
    return config
