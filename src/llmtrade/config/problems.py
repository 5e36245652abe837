"""A pydantic error in a config file in llmtrade's words: the key path, what the setting allows and the value given.

Pydantic's own words ("Input should be greater than or equal to 1") name neither the setting's range nor the value,
and read as a programmer's; a new user's trial found them beside our own messages."""

from __future__ import annotations

import calendar
import difflib
import re
import types
import typing
from datetime import date
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from llmtrade.config.scalars import _IDENT
from llmtrade.config.times import calendar_day
from llmtrade.config_errors import ConfigProblem

EXTENSION = "x-"  # a top-level key llmtrade does not read (config/loader.py)

# A number in e-notation without a dot: text to YAML 1.1 (`problem`).
_E_NOTATION = re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$")

# What YAML makes of a plain (unquoted) scalar, by its tag: the loader's own resolution (config/loader.py).
_RESOLVER = yaml.resolver.Resolver()
_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

# A number with a percent sign (`20%`): text to YAML.
_PERCENT = re.compile(r"^\s*([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))\s*%\s*$")

# YAML 1.1 reads some unquoted words as other types; a hint says so when the type is then refused.
_HINTS = {
    bool: "YAML reads unquoted true/false as booleans: quote it if you meant text",
}

_TYPES = {
    "string_type": "text",
    "bool_type": "true or false",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "finite_number": "a finite number",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
    "url_type": "a URL, e.g. https://example.com/v1",
    "url_parsing": "a URL, e.g. https://example.com/v1",
    "url_scheme": "an http or https URL",
    "date_type": "a date, YYYY-MM-DD",
    "date_parsing": "a date, YYYY-MM-DD",
    "date_from_datetime_parsing": "a date, YYYY-MM-DD",
    # A sweep file's range day given with a time (2024-01-03T10:00:00): pydantic's lax words, "Datetimes provided to
    # dates should have zero time - e.g. be exact dates", named neither the form nor what to write.
    "date_from_datetime_inexact": "a date, YYYY-MM-DD",
}

_PATTERNS = {
    _IDENT: "a name of letters, digits, '_', '.' and '-', starting with a letter or digit",
    r"^[A-Z][A-Z0-9.]{0,9}$": "a ticker in capitals (A-Z, digits and '.', at most 10 characters), e.g. SPY",
    # A sweep file's name and its axes' names (sweep/spec.py): a trial's long name was told the regex itself.
    r"^[A-Za-z0-9][A-Za-z0-9_-]{0,23}$": (
        "a name of 1 to 24 letters, digits, '_' and '-', starting with a letter or digit"
    ),
    r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$": (
        "a name of 1 to 40 letters, digits, '_', '.' and '-', starting with a letter or digit"
    ),
}

_ENV_NAME = r"^[A-Z_][A-Z0-9_]*$"
# `$NAME`, `${NAME}` or `%NAME%`: a shell's or Windows' reference to a variable, which llmtrade does not expand.
_REFERENCE = re.compile(r"^(?:\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?|%([A-Za-z_][A-Za-z0-9_]*)%)$")

_BOUNDS = {"ge": "at least", "gt": "more than", "le": "at most", "lt": "less than"}


def problem(err: Any, model: type[BaseModel]) -> ConfigProblem:
    """`err` (one of a ValidationError's errors() from validating `model`) as a ConfigProblem."""
    path = _path(err["loc"])
    kind, value, ctx = err["type"], err.get("input"), err.get("ctx") or {}
    if kind == "extra_forbidden":
        if len(err["loc"]) == 1 and str(err["loc"][0]).startswith("x_"):
            return ConfigProblem(path, f"unknown key (a key for anchors alone starts {EXTENSION!r}, not 'x_')")
        return ConfigProblem(path, "unknown key (not a setting of this file)" + _meant(model, err["loc"]))
    if kind == "missing":
        return ConfigProblem(path, "is required and missing")
    if len(err["loc"]) >= 2 and err["loc"][-1] == "[key]":  # pydantic's place for a mapping's key: the key itself
        return ConfigProblem(_path(err["loc"][:-2]), f"has a key that is not text: {value!r} (quote it)")
    message = err["msg"].removeprefix("Value error, ")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bounds = _constraints(model, err["loc"]) or ctx
        message = f"must be {_range(bounds)}"
        if _fraction(bounds) and isinstance(value, (int, float)) and 1 < value <= 100:
            # A setting of a fraction given a percentage (`max_position_pct: 20` for 20%): the range alone did not
            # say the setting is a fraction of 1 (a trial).
            message += f", as a fraction: write {value / 100:g} for {value:g}%"
    elif kind in ("too_short", "too_long"):
        items = "entries" if ctx.get("field_type") == "Dictionary" else "items"
        # The count is the whole story of a list's length: its items shown after it would say it twice (a review).
        sized = _sized(_constraints(model, err["loc"]) or ctx, items)
        return ConfigProblem(path, f"must have {sized} (it has {ctx['actual_length']})")
    elif kind in ("string_too_short", "string_too_long"):
        sized = _constraints(model, err["loc"]) or ctx
        message = "must not be empty" if sized.get("min_length") == 1 and value == "" else ""
        message = message or f"must be {_sized(sized, 'characters')}"
    elif kind in ("literal_error", "enum"):
        choices = re.findall(r"'([^']*)'", ctx.get("expected", ""))
        message = f"must be {choices[0]}" if len(choices) == 1 else f"must be one of: {', '.join(choices)}"
    elif kind == "string_pattern_mismatch" and value == "":
        message = "must not be empty"
    elif kind == "invalid_key":
        message = "must have text keys (a key here is a number, a list or a mapping)"
    elif kind == "string_pattern_mismatch" and ctx.get("pattern") == _ENV_NAME:
        return _env_name(path, value)
    elif kind == "string_pattern_mismatch":
        message = f"must be {_PATTERNS.get(ctx.get('pattern'), 'text matching ' + repr(ctx.get('pattern')))}"
    elif kind in _TYPES:
        message = f"must be {_TYPES[kind]}"
        if kind == "string_type" and type(value) in _HINTS:
            message += f" ({_HINTS[type(value)]})"
        elif kind in ("bool_type", "float_type", "int_type") and isinstance(value, str):
            message = _text_read(kind, value, _constraints(model, err["loc"]))
        elif kind.startswith("date") and isinstance(value, str) and _quoted_date(value):
            message += ", written without quotes"
        elif kind.startswith("date") and isinstance(value, str) and (reason := _no_such_day(value, err["loc"])):
            message += f": {reason}"
    else:
        message = re.sub(r"^Input should be ", "must be ", message)
    if kind == "value_error" and isinstance(value, (dict, list)):
        return ConfigProblem(path, message)  # a rule over the entries: its message names the culprit
    if value is None and kind != "value_error":
        # A key written with no value (`to:`, `mode:`): YAML reads it as null, which was shown as "(got None)", a
        # value the user never wrote.
        return ConfigProblem(path, f"is missing its value: it {message}")
    return ConfigProblem(path, message, value)


def _env_name(path: str, value: Any) -> ConfigProblem:
    """A setting naming the environment variable that holds a key (`api_key_env`, `secret_env`) given something else.

    What was given is shown only when it is a reference to a variable: anything else may be the key itself, pasted
    here, and a value refused is said on stderr and kept in the job's ConfigRejected event and the log for good (a
    trial's `api_key_env: sk-or-v1-...`)."""
    found = _REFERENCE.match(value) if isinstance(value, str) else None
    if found:
        name = found.group(1) or found.group(2)
        return ConfigProblem(
            path,
            f"must be the environment variable's name alone: write {name.upper()} (llmtrade reads the variable itself)",
            value,
        )
    return ConfigProblem(
        path,
        "must be the name of the environment variable that holds it (capitals, digits and '_', e.g. ALPACA_KEY), "
        "not the key itself: put the key in that variable (the environment or .env); what was written is not shown, "
        "as it may be a key",
    )


def _text_read(kind: str, value: str, bounds: dict[str, Any]) -> str:
    """What to say of `value`, text, given to a switch or a number (strict scalars, config/scalars.py: a quoted "true"
    or "5" is refused rather than guessed at). Only a value that YAML would have read as the setting's type unquoted
    was quoted; anything else is as written, and told what YAML read (a trial's `starting_cash: 100,000`, `09` and
    `live_trading_enabled: yes` were each told "written without quotes")."""
    said = f"must be {_TYPES[kind]}"
    tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
    # 9:00 is text to llmtrade's loader (no YAML 1.1 base 60), quoted or not.
    quoted = value.lower() in ("true", "false") if kind == "bool_type" else tag in (_INT, _FLOAT) and ":" not in value
    if quoted:
        return f"{said}, written without quotes"
    if kind == "bool_type":
        return f"{said}: llmtrade reads {value} as text, as YAML 1.2 does"
    if percent := _PERCENT.match(value):
        # YAML reads 20% as text (a trial's `halt_drawdown_pct: 20%`).
        number = float(percent.group(1))
        write = f"the fraction {number / 100:g} for {number:g}%" if _fraction(bounds) else "it without '%'"
        return f"{said}: YAML reads {value} as text; write {write}"
    if _E_NOTATION.match(value):
        # YAML 1.1 reads 1e6 as text (its floats need a dot: 1.0e6) (a trial).
        return f"{said}: YAML reads {value} as text; write it with a dot (1.0e6) or in full (1000000)"
    digits = re.sub(r"[\s,$€£]", "", value)  # thousands separators, a currency sign
    if re.fullmatch(r"[-+]?[0-9]+", digits):
        digits = str(int(digits))  # a leading zero (09): text to YAML 1.1
    if _RESOLVER.resolve(yaml.ScalarNode, digits, (True, False)) in (_INT, _FLOAT):
        return f"{said}: YAML reads {value} as text; write {digits}"
    return f"{said}: YAML reads {value} as text"


def _quoted_date(value: str) -> bool:
    """Whether `value` is a date YAML reads as one unquoted (YYYY-MM-DD): given as text, it was quoted."""
    try:
        return bool(_ISO_DATE.match(value)) and date.fromisoformat(value) is not None
    except ValueError:
        return False


def _no_such_day(value: str, loc: tuple[Any, ...] = ()) -> str | None:
    """Why `value`, written as a date, is none (`2024-02-30`: "February 2024 has days 1 to 29"), where "must be a
    date, YYYY-MM-DD" was all a new user's trial was told of the form it had used, or how to write the day it is
    (2024-9-30); None for another shape. A month alone (2024-09, as vendors state a knowledge cutoff) is told the
    day to write: a knowledge_cutoff's is the month's last, as models.yaml says; another date's, a day of it."""
    month = re.fullmatch(r"([0-9]{4})-([0-9]{1,2})", value.strip())
    if month is not None and 1 <= int(month.group(2)) <= 12:
        year, number = int(month.group(1)), int(month.group(2))
        if loc and loc[-1] == "knowledge_cutoff" and year >= 1:
            last = date(year, number, calendar.monthrange(year, number)[1])
            return f"a month, not a day: write its last day, {last.isoformat()}"
        return "a month, not a day: write a day of it"
    if not re.fullmatch(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}", value.strip()):
        return None
    try:
        day = calendar_day(value)
    except ValueError as exc:
        return str(exc).split(": ", 1)[-1]
    return f"write {day.isoformat()}"  # 2024-9-30, text to YAML, which reads a date of two-digit parts alone


def _fraction(bounds: dict[str, Any]) -> bool:
    """Whether `bounds` (`_constraints`) are a fraction's: from 0 up to 1."""
    return (bounds.get("le") == 1 or bounds.get("lt") == 1) and (bounds.get("ge", bounds.get("gt")) == 0)


def _range(bounds: dict[str, Any]) -> str:
    said = {key: f"{_BOUNDS[key]} {_number(bounds[key])}" for key in _BOUNDS if key in bounds}
    if "ge" in said and "le" in said:
        return f"from {_number(bounds['ge'])} to {_number(bounds['le'])}"
    return " and ".join(said.values())


def _sized(bounds: dict[str, Any], unit: str) -> str:
    low, high = bounds.get("min_length"), bounds.get("max_length")
    if low and high is not None:
        return f"from {low} to {high} {unit}"
    return f"at least {low} {_one(low, unit)}" if low else f"at most {high} {_one(high, unit)}"


_SINGULAR = {"items": "item", "entries": "entry", "characters": "character"}


def _one(count: Any, unit: str) -> str:
    """`unit` for `count` of it: 'at least 1 item', not '1 items' (a review)."""
    return _SINGULAR.get(unit, unit) if count == 1 else unit


def _number(bound: Any) -> str:
    return f"{bound:g}" if isinstance(bound, float) else str(bound)


def _constraints(model: type[BaseModel], loc: tuple[Any, ...]) -> dict[str, Any]:
    """The bounds (ge, gt, le, lt, min_length, max_length) the setting at `loc` of `model` declares, so a message
    says its whole range where pydantic's error names the one bound broken; {} where the path is not followed."""
    followed = _followed(model, loc)
    if followed is None:
        return {}
    metadata = followed[1] + _unwrap(followed[0])[1]
    found: dict[str, Any] = {}
    for item in metadata:
        for each in item.metadata if isinstance(item, FieldInfo) else [item]:
            for key in (*_BOUNDS, "min_length", "max_length"):
                if getattr(each, key, None) is not None:  # annotated_types' Ge(1), MaxLen(32), ...
                    found[key] = getattr(each, key)
    return found


def _followed(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[Any, list[Any]] | None:
    """The type hint of the setting at `loc` of `model` and its Annotated metadata; None where the path is not
    followed."""
    hint: Any = model
    metadata: list[Any] = []
    for part in loc:
        hint, metadata = _unwrap(hint)
        if isinstance(hint, type) and issubclass(hint, BaseModel) and isinstance(part, str):
            field = hint.model_fields.get(part)
            if field is None:
                return None
            hint, metadata = field.annotation, list(field.metadata)
        elif typing.get_origin(hint) is list and isinstance(part, int):
            hint, metadata = typing.get_args(hint)[0], []
        elif typing.get_origin(hint) is dict and isinstance(part, str):
            hint, metadata = typing.get_args(hint)[1], []
        else:
            return None
    return hint, metadata


def _meant(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """What an unknown key at `loc` of `model` was likely meant to be: a near spelling of a setting beside it
    (`max_postion_pct`, `Live_Trading_Enabled`, `slippage-bps`), or a setting of a section below it (a key not
    indented under its section's name); "" when neither. A trial was left to find the setting among the file's."""
    followed = _followed(model, loc[:-1])
    here = _unwrap(followed[0])[0] if followed else None
    if not (isinstance(here, type) and issubclass(here, BaseModel)):
        return ""
    key, names = str(loc[-1]), list(here.model_fields)
    spelled = {name.lower(): name for name in names}.get(key.lower().replace("-", "_"))
    near = spelled or _swapped(key, names) or next(iter(difflib.get_close_matches(key, names, n=1, cutoff=0.8)), None)
    if near:
        return f"; did you mean {near}?"
    for name, field in here.model_fields.items():
        section = _unwrap(field.annotation)[0]
        if isinstance(section, type) and issubclass(section, BaseModel) and key in section.model_fields:
            return f"; it is a setting of {name}: indent it under {name}:"
    return ""


def _swapped(key: str, names: list[str]) -> str | None:
    """The name `key` is with two neighbouring letters swapped (`tiem` for time, `nmae` for name): the commonest
    slip, which difflib's ratio puts under its cutoff in a short word (0.75), so that a trial's `tiem:` was told of
    no setting near it."""
    for name in names:
        if len(name) == len(key) and sorted(name) == sorted(key):
            apart = [n for n, (a, b) in enumerate(zip(name, key, strict=True)) if a != b]
            if len(apart) == 2 and apart[1] == apart[0] + 1:
                return name
    return None


def _unwrap(hint: Any) -> tuple[Any, list[Any]]:
    """`hint` without Annotated and `| None`, and the Annotated metadata taken off."""
    metadata: list[Any] = []
    while True:
        if typing.get_origin(hint) is typing.Annotated:
            hint, *more = typing.get_args(hint)
            metadata += more
        elif typing.get_origin(hint) in (typing.Union, types.UnionType):
            members = [arg for arg in typing.get_args(hint) if arg is not type(None)]
            if len(members) != 1:
                return hint, metadata
            hint = members[0]
        else:
            return hint, metadata


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
