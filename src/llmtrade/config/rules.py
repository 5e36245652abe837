"""Rules over several entries of a file or over several files: what a run depends on beyond each
field's own type. Checked at every load (so every command refuses a config that cannot run) and by
`config validate`.

Each rule names the files it reads and yields every problem it finds; a rule runs when all its files
parsed, so a broken file does not hide the other files' problems. A problem is reported against the
file that holds the offending value, and its message names the other file when one is involved. A rule
may also read ENVIRONMENT, what the command's environment decides (`Environment`): it runs when the
caller gives one (the loader does).
"""

from __future__ import annotations

import stat
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmtrade.config.models import (
    BENCHMARK,
    AccountRole,
    AccountsConfig,
    AssetsConfig,
    ModelsConfig,
    ScheduleConfig,
    Weekday,
)
from llmtrade.config_errors import ConfigProblem

# The regular NYSE close in New York time: a checkpoint at or after it is skipped on every day
# (workflows/schedule.py), so configuring one is a mistake, not a no-op to allow.
SESSION_CLOSE = "16:00"
# Anonymous labels are the letters A..Z (council/anonymize.py).
MAX_LABELS = 26


@dataclass(frozen=True)
class Finding:
    file: str  # e.g. "models.yaml"
    problem: ConfigProblem


Parts = Mapping[str, Any]  # file name -> its parsed model, for the files that parsed
Rule = Callable[..., Iterator[Finding]]
RULES: list[tuple[tuple[str, ...], Rule]] = []

# Not a file: the part a rule names to read `Environment`.
ENVIRONMENT = "environment"


@dataclass(frozen=True)
class Environment:
    """What the command's environment decides that a rule must know."""

    # The CSV folder is chosen elsewhere (LLMTRADE_MARKET_CSV_DIR, a command's --csv): assets.yaml's csv_dir is not
    # read, so it is not checked (the folder chosen is checked where it is chosen, and read).
    csv_dir_elsewhere: bool = False


def rule(*files: str) -> Callable[[Rule], Rule]:
    def register(check: Rule) -> Rule:
        RULES.append((files, check))
        return check

    return register


def check(parts: Parts, environment: Environment | None = None) -> list[Finding]:
    """Every problem every applicable rule finds, in rule order; the rules that read the environment only when it
    is given."""
    given = {**parts, ENVIRONMENT: environment} if environment is not None else parts
    found: list[Finding] = []
    for files, check_rule in RULES:
        if all(name in given for name in files):
            found += check_rule(*(given[name] for name in files))
    return found


def _repeats(values: list[str]) -> set[str]:
    return {value for value, count in Counter(values).items() if count > 1}


def _later_repeats(values: list[str]) -> Iterator[tuple[int, str]]:
    """Index and value of every entry that repeats an earlier one."""
    seen: set[str] = set()
    for index, value in enumerate(values):
        if value in seen:
            yield index, value
        seen.add(value)


# ---------------------------------------------------------------- assets.yaml


@rule("assets.yaml")
def _symbols_unique(assets: AssetsConfig) -> Iterator[Finding]:
    for i, symbol in _later_repeats(assets.symbols):
        yield Finding("assets.yaml", ConfigProblem(f"universe[{i}].symbol", f"{symbol} is listed twice", symbol))


@rule("assets.yaml")
def _benchmark_in_universe(assets: AssetsConfig) -> Iterator[Finding]:
    if BENCHMARK not in assets.symbols:
        yield Finding(
            "assets.yaml",
            ConfigProblem(
                "universe",
                f"the benchmark {BENCHMARK} is not in the universe; every run prices it (correlation to "
                f"{BENCHMARK}, the researcher's risk mode, status 'vs {BENCHMARK}'): add "
                f"{{symbol: {BENCHMARK}, asset_class: equity}}",
            ),
        )


@rule("assets.yaml", ENVIRONMENT)
def _csv_folder_exists(assets: AssetsConfig, environment: Environment) -> Iterator[Finding]:
    # Found as `csv_dir: /nonexistent/prices` passing validate and every command then exiting 1 with "csv folder
    # ... does not exist", naming no file, where the same folder given as --csv exits 2; and `providers: [csv]` with
    # no folder, refused only by a live run's first price.
    data = assets.market_data
    if environment.csv_dir_elsewhere:
        return
    if data.csv_dir is None:
        if "csv" in data.providers:
            why = (
                "lists csv, but market_data.csv_dir is null: set csv_dir to a folder of SYMBOL.csv files (or "
                "LLMTRADE_MARKET_CSV_DIR), or drop csv"
            )
            yield Finding("assets.yaml", ConfigProblem("market_data.providers", why, data.providers))
        return
    folder = Path(data.csv_dir).expanduser()
    # Read where the command runs: cron's working directory is not a shell's.
    where = "" if folder.is_absolute() else f" (relative to the working directory {Path.cwd()})"
    try:
        mode = folder.stat().st_mode  # a link to a folder is one
    except (FileNotFoundError, NotADirectoryError):
        why = f"no such folder{where}: create it, fix the path, or set csv_dir: null (the synthetic market offline)"
    except OSError as exc:  # no permission to a folder on the way
        why = f"cannot be read{where}: {exc.strerror or exc}"
    else:
        why = "" if stat.S_ISDIR(mode) else f"is not a folder of SYMBOL.csv files{where}"
    if why:
        yield Finding("assets.yaml", ConfigProblem("market_data.csv_dir", why, data.csv_dir))


# ---------------------------------------------------------------- schedule.yaml


@rule("schedule.yaml")
def _checkpoints_within_session(schedule: ScheduleConfig) -> Iterator[Finding]:
    # No index in the path: ScheduleConfig sorts the times, so an index would not match the file.
    for hhmm in schedule.checkpoints:
        if hhmm >= SESSION_CLOSE:
            yield Finding(
                "schedule.yaml",
                ConfigProblem(
                    "checkpoints",
                    f"is at or after the {SESSION_CLOSE} close (New York), so it would never run; "
                    "use a time before the close, e.g. 15:50",
                    hhmm,
                ),
            )


@rule("schedule.yaml")
def _postmortem_after_the_week(schedule: ScheduleConfig) -> Iterator[Finding]:
    # A week runs Wednesday to Tuesday and its postmortem closes it (workflows/schedule.py): on Thursday, Friday or
    # Monday, or Tuesday before the close, it closed the week while it still traded; its next checkpoint was refused
    # and a backtest stopped blaming the clock ("is it set back?"). Holidays that move it are the schedule's to mend.
    day, hhmm, weekly = schedule.postmortem.day, schedule.postmortem.time, schedule.weekly_run
    after_close = f"tuesday at or after the {SESSION_CLOSE} close (the default is tuesday 16:30)"
    if day in (Weekday.MONDAY, Weekday.THURSDAY, Weekday.FRIDAY):
        why = (
            f"{day.value} comes before the week's last session (a week runs Wednesday to Tuesday), and the "
            "postmortem closes the week: its later checkpoints would be refused; "
            f"use {after_close}, or wednesday by the weekly run"
        )
        yield Finding("schedule.yaml", ConfigProblem("postmortem.day", why, day.value))
    elif day is Weekday.TUESDAY and hhmm < SESSION_CLOSE:
        why = (
            f"tuesday {hhmm} is before the {SESSION_CLOSE} close (New York) of the week's last session, and the "
            f"postmortem closes the week: that session's later checkpoints would be refused; use {after_close}"
        )
        yield Finding("schedule.yaml", ConfigProblem("postmortem.time", why, hhmm))
    elif day is Weekday.WEDNESDAY and weekly.day is Weekday.WEDNESDAY and hhmm > weekly.time:
        # The schedule pulls it forward to that run, which reads it: it would never run at the time written here.
        why = (
            f"wednesday {hhmm} is after the next week's weekly run (wednesday {weekly.time}), which reads the "
            f"postmortem, so it would run at {weekly.time} every week instead; "
            f"use {weekly.time} or earlier, or {after_close}"
        )
        yield Finding("schedule.yaml", ConfigProblem("postmortem.time", why, hhmm))


# ---------------------------------------------------------------- models.yaml


@rule("models.yaml")
def _model_ids_unique(models: ModelsConfig) -> Iterator[Finding]:
    for i, pm_id in _later_repeats([pm.id for pm in models.pms]):
        yield Finding("models.yaml", ConfigProblem(f"pms[{i}].id", "PM id is used twice (ids must be unique)", pm_id))
    for i, label in _later_repeats([r.id for r in models.research]):
        yield Finding(
            "models.yaml", ConfigProblem(f"research[{i}].id", "research id is used twice (it labels the pack)", label)
        )
    if len(models.pms) > MAX_LABELS:
        yield Finding("models.yaml", ConfigProblem("pms", f"at most {MAX_LABELS} PMs (reviews label them A to Z)"))


@rule("models.yaml")
def _providers_exist(models: ModelsConfig) -> Iterator[Finding]:
    known = ", ".join(sorted(models.providers))
    named = [(where, ref.provider) for where, ref in models.model_refs()]
    if models.memory.embedding is not None:
        # Not a chat model (model_refs), but looked up among the providers all the same (app/memory_build.py): a live
        # run failed there on a KeyError that `config validate` had passed (a trial).
        named.append(("memory.embedding", models.memory.embedding.provider))
    for where, provider in named:
        if provider not in models.providers:
            yield Finding(
                "models.yaml", ConfigProblem(f"{where}.provider", f"no such provider (known: {known})", provider)
            )


@rule("models.yaml")
def _budgeted_models_are_priced(models: ModelsConfig) -> Iterator[Finding]:
    # Under a budget an unpriced model's calls are refused (llm/budget.py): found at the run's first call to it, after
    # research was paid for (a trial), though the config alone says so.
    if not models.budget.active:
        return
    said: set[str] = set()
    for where, ref in models.model_refs():
        if ref.model not in models.prices and ref.model not in said:
            said.add(ref.model)
            yield Finding(
                "models.yaml",
                ConfigProblem(
                    f"{where}.model",
                    "has no price in `prices:`, and `budget:` refuses the calls of a model whose cost it cannot "
                    "keep under its ceiling (add its price per million tokens, or remove the budget)",
                    ref.model,
                ),
            )


@rule("models.yaml")
def _budget_fits_one_call(models: ModelsConfig) -> Iterator[Finding]:
    # Before each call the budget holds its worst case, all of max_tokens at the output price at least (llm/budget.py):
    # a ceiling below that for a model refused every call to it, found at its first call, after others were paid for.
    budget = models.budget
    named = (("budget.per_run_usd", budget.per_run_usd), ("budget.per_week_usd", budget.per_week_usd))
    ceilings = [(key, limit) for key, limit in named if limit is not None]
    if not ceilings:
        return
    said: set[tuple[str, int]] = set()
    for where, ref in models.model_refs():
        price = models.prices.get(ref.model)
        if price is None or (ref.model, ref.max_tokens) in said:
            continue  # an unpriced model: _budgeted_models_are_priced says so
        least = ref.max_tokens * price.output_per_mtok / 1e6
        key, limit = min(ceilings, key=lambda c: c[1])
        if least > limit:
            said.add((ref.model, ref.max_tokens))
            yield Finding(
                "models.yaml",
                ConfigProblem(
                    f"{where}.max_tokens",
                    f"{ref.max_tokens} tokens of {ref.model} at its output price ${price.output_per_mtok:g} "
                    f"per million are a worst case of ${least:.4g} a call, the prompt not counted, above {key} "
                    f"({limit:g}): the budget would refuse every call to it; lower max_tokens, or raise the budget",
                    ref.max_tokens,
                ),
            )


@rule("models.yaml")
def _council_has_two_members(models: ModelsConfig) -> Iterator[Finding]:
    # An empty list means "the PMs" (app/inquiries.py); one member cannot be ranked by peers.
    members = models.council.models
    if members is not None and len(members) == 1:
        yield Finding(
            "models.yaml",
            ConfigProblem("council.models", "a council needs at least two members (or none: the PMs are used)"),
        )


# ---------------------------------------------------------------- accounts.yaml


@rule("accounts.yaml")
def _account_ids_and_roles(accounts: AccountsConfig) -> Iterator[Finding]:
    for i, account_id in _later_repeats([a.id for a in accounts.accounts]):
        yield Finding("accounts.yaml", ConfigProblem(f"accounts[{i}].id", "account id is used twice", account_id))
    for role in (AccountRole.CHAIRMAN, AccountRole.FLAT):
        holders = [a.id for a in accounts.accounts if a.role is role]
        if len(holders) != 1:
            yield Finding(
                "accounts.yaml",
                ConfigProblem(
                    "accounts",
                    f"exactly one account must have role {role.value}, found {len(holders)}"
                    + (f" ({', '.join(holders)})" if holders else ""),
                ),
            )


@rule("accounts.yaml")
def _alpaca_keys_not_shared(accounts: AccountsConfig) -> Iterator[Finding]:
    # Two accounts on one Alpaca account would trade each other's positions and mix their P/L.
    keyed = [(i, a.alpaca.key_env) for i, a in enumerate(accounts.accounts) if a.alpaca is not None]
    shared = _repeats([env for _, env in keyed])
    for i, env in keyed:
        if env in shared:
            yield Finding(
                "accounts.yaml",
                ConfigProblem(
                    f"accounts[{i}].alpaca.key_env", "another account uses the same Alpaca key variable", env
                ),
            )


# ---------------------------------------------------------------- models.yaml against accounts.yaml


@rule("models.yaml", "accounts.yaml")
def _pm_and_chairman_accounts(models: ModelsConfig, accounts: AccountsConfig) -> Iterator[Finding]:
    known = ", ".join(a.id for a in accounts.accounts)
    owner: dict[str, str] = {}
    for i, pm in enumerate(models.pms):
        account, path = accounts.account(pm.account), f"pms[{i}].account"
        if account is None:
            yield Finding(
                "models.yaml", ConfigProblem(path, f"no such account in accounts.yaml (known: {known})", pm.account)
            )
        elif account.role is not AccountRole.PM:
            yield Finding(
                "models.yaml",
                ConfigProblem(path, f"account has role {account.role.value} in accounts.yaml, not pm", pm.account),
            )
        elif pm.account in owner:
            yield Finding(
                "models.yaml", ConfigProblem(path, f"account already belongs to PM {owner[pm.account]}", pm.account)
            )
        else:
            owner[pm.account] = pm.id
    chair = accounts.account(models.chairman.account)
    if chair is None:
        yield Finding(
            "models.yaml",
            ConfigProblem(
                "chairman.account", f"no such account in accounts.yaml (known: {known})", models.chairman.account
            ),
        )
    elif chair.role is not AccountRole.CHAIRMAN:
        yield Finding(
            "models.yaml",
            ConfigProblem(
                "chairman.account", f"account has role {chair.role.value} in accounts.yaml, not chairman", chair.id
            ),
        )
    for i, account in enumerate(accounts.accounts):
        if account.role is AccountRole.PM and account.id not in owner:
            yield Finding(
                "accounts.yaml",
                ConfigProblem(f"accounts[{i}].id", "role pm, but no PM in models.yaml trades it", account.id),
            )
