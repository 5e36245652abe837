"""Settings read from the environment (and a `.env` file in the working directory).

Only secrets and machine-specific switches live here; what the committee does is in the YAML
config. `.env.template` at the repository root lists every variable.
"""

from __future__ import annotations

import os
import re
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmtrade.errors import UsageError
from llmtrade.paths import default_home, utf8_error_at


class Settings(BaseSettings):
    # An empty value (`LLMTRADE_NOW=` as .env.template has it) means "not set", as the template says.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True, env_ignore_empty=True
    )

    home: Path = Field(default_factory=default_home, alias="LLMTRADE_HOME")
    config_dir: Path | None = Field(default=None, alias="LLMTRADE_CONFIG_DIR")
    now: datetime | None = Field(default=None, alias="LLMTRADE_NOW")
    # How far the system clock may be from the database server's before a command that writes the books refuses
    # (app/clock_skew.py); 0 turns the check off. At most a year, and finite: it becomes a timedelta, which 'inf' or
    # 1e13 minutes overflow (every such command died on OverflowError).
    clock_skew_minutes: float = Field(
        default=5.0, ge=0, le=365 * 24 * 60, allow_inf_nan=False, alias="LLMTRADE_CLOCK_SKEW_MINUTES"
    )
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    llm_base_url: str | None = Field(default=None, alias="LLMTRADE_LLM_BASE_URL")
    llm_api_key: str | None = Field(default=None, alias="LLMTRADE_LLM_API_KEY")
    prompts_dir: Path | None = Field(default=None, alias="LLMTRADE_PROMPTS_DIR")
    market_providers: str | None = Field(default=None, alias="LLMTRADE_MARKET_PROVIDERS")
    market_csv_dir: Path | None = Field(default=None, alias="LLMTRADE_MARKET_CSV_DIR")
    alpaca_data_url: str | None = Field(default=None, alias="LLMTRADE_ALPACA_DATA_URL")
    alpaca_url: str | None = Field(default=None, alias="LLMTRADE_ALPACA_URL")
    # apprise URLs, comma or space separated (issue 16 alerts); secrets, so never in a file of the repo.
    alert_urls: str | None = Field(default=None, alias="LLMTRADE_ALERT_URLS")
    # Observability: the Prometheus text file's folder (default LLMTRADE_HOME/metrics, e.g. node_exporter's
    # textfile directory) and a Pushgateway to push the same metrics to (none unless set).
    metrics_dir: Path | None = Field(default=None, alias="LLMTRADE_METRICS_DIR")
    pushgateway_url: str | None = Field(default=None, alias="LLMTRADE_PUSHGATEWAY_URL")

    # Where market_csv_dir came from, for a message about the folder: this variable, unless a command's option put it
    # there (`with_csv_dir`). Not a setting: nothing reads it from the environment.
    _csv_dir_from: str = PrivateAttr(default="LLMTRADE_MARKET_CSV_DIR")

    @field_validator("now")
    @classmethod
    def _now_has_offset(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("needs a UTC offset, e.g. 2026-01-07T08:00:00-05:00")
        return value

    @field_validator(
        "database_url",
        "config_dir",
        "llm_base_url",
        "llm_api_key",
        "alpaca_url",
        "prompts_dir",
        "market_providers",
        "market_csv_dir",
        "alpaca_data_url",
        "metrics_dir",
        "pushgateway_url",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # Blank counts as empty: `DATABASE_URL= ` would otherwise reach libpq as "connect to the default".
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("llm_base_url", "alpaca_data_url", "alpaca_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        # A malformed URL fails every request the same way: httpx's UnsupportedProtocol read as an outage, retried and
        # then waited out (exit 75) until the deadline, where the week went on without its models (a trial).
        if value is None:
            return value
        parts = urlsplit(value.strip())
        try:
            parts.port  # noqa: B018 - urlsplit checks a port only when asked for it: "host:abc" raises here
        except ValueError:
            raise ValueError("has a port that is not a number") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:8080/v1")
        return value.strip()

    @field_validator("pushgateway_url")
    @classmethod
    def _gateway_url(cls, value: str | None) -> str | None:
        # Checked here, not found by the first push: a malformed value failed every push after the command's work was
        # done, one warning a wake-up ("metrics not pushed to ...: URLError ..."), never a word at the start or from
        # `config validate`.
        return None if value is None else gateway_url(value)

    def with_csv_dir(self, folder: Path, given_by: str) -> Settings:
        """These settings reading the CSV folder `folder`, which `given_by` named (an option: "--csv")."""
        copy = self.model_copy(update={"market_csv_dir": folder})
        copy._csv_dir_from = given_by
        return copy

    @property
    def csv_dir_from(self) -> str:
        """What named market_csv_dir (when set): LLMTRADE_MARKET_CSV_DIR, or the option `with_csv_dir` was given."""
        return self._csv_dir_from

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    def secret(self, name: str) -> str | None:
        """A variable named by the config (an API key): the environment first, then `.env`."""
        value = os.environ.get(name) or _dotenv().get(name)
        return value or None

    def set_like(self, name: str) -> list[str]:
        """Variables set (the environment, `.env`) whose names are close to `name`, which is not: the key a misspelt
        `api_key_env` meant (OPENROUTER_APIKEY for OPENROUTER_API_KEY)."""
        import difflib

        names = [n for n, v in {**_dotenv(), **os.environ}.items() if v]
        return difflib.get_close_matches(name, names, n=2, cutoff=0.85)


# What LLMTRADE_PUSHGATEWAY_URL takes, said with each way it can be wrong.
_GATEWAY_FORM = (
    "write the Pushgateway's address, e.g. http://localhost:9091 (http:// or https://, a host, an optional port and "
    "path prefix; llmtrade adds /metrics/job/llmtrade)"
)


def gateway_url(value: str) -> str:
    """A Pushgateway address as prometheus_client pushes to it (`gateway` + /metrics/job/...), with its scheme:
    prometheus_client's documented `host:port` (no scheme) is taken as http://, as it takes it. Raises ValueError
    saying what is wrong and what to write."""
    given = value.strip()
    scheme, found, _ = given.partition("://")
    if not found:
        # `htp:/host`, `http:host`: a scheme mistyped, which prometheus_client would have read as a host name.
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]*:(?![0-9])", given):
            raise ValueError(f"has no '://' after its scheme: {_GATEWAY_FORM}")
        given, scheme = f"http://{given}", "http"
    if scheme.lower() not in ("http", "https"):
        raise ValueError(f"has the scheme {scheme!r}: {_GATEWAY_FORM}")
    parts = urlsplit(given)
    try:
        parts.port  # noqa: B018 - urlsplit checks a port only when asked for it: "host:abc" raises here
    except ValueError:
        raise ValueError(f"has a port that is not a number: {_GATEWAY_FORM}") from None
    if not parts.hostname or parts.hostname in ("http", "https") or given.count("://") > 1:
        # `/metrics` or `http:///x`: a path where the host goes; `http//host`: the scheme's colon lost.
        raise ValueError(f"has no host: {_GATEWAY_FORM}")
    if parts.username is not None or parts.password is not None:
        # urllib (prometheus_client's push) sends no credentials from a URL: the push went to a host "user:pass@...".
        raise ValueError(f"holds credentials, which the push cannot send: {_GATEWAY_FORM}")
    if parts.query or parts.fragment or "/metrics/job" in parts.path:
        raise ValueError(f"is a push URL, not the gateway's address: {_GATEWAY_FORM}")
    return given


def _dotenv() -> dict[str, str | None]:
    from dotenv import dotenv_values  # lazy: only commands that need keys read .env for them

    return dict(dotenv_values(".env")) if Path(".env").is_file() else {}


def _check_dotenv(path: Path = Path(".env")) -> None:
    """python-dotenv raises a bare UnicodeDecodeError or OSError on a `.env` it cannot read: name the
    file, the line and what to do instead (a byte-order mark is fine: dotenv drops it)."""
    if not path.exists():
        return
    if path.is_dir():
        raise SettingsRejected(
            f"{path.resolve()} is a folder; llmtrade reads secrets from a .env file: move it aside", [DOTENV]
        )
    try:
        path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        said = f"cannot read {path.resolve()}: {exc.strerror or exc}; check its permissions"
        raise SettingsRejected(said, [DOTENV]) from None
    except UnicodeDecodeError as exc:
        line, column, byte = utf8_error_at(exc)
        said = f"{path.resolve()}, line {line}, column {column}: byte 0x{byte} is not UTF-8; save the file as UTF-8"
        raise SettingsRejected(said, [DOTENV]) from None


# What a numeric setting takes, said whatever pydantic found wrong with it (a trial: "-5", "five", "inf").
_RANGES = {
    "LLMTRADE_CLOCK_SKEW_MINUTES": "must be a number of minutes from 0 to 525600 (a year); 0 turns the check off",
}


def _shown(value: object) -> object:
    """A refused value as said: a URL's password masked (a message goes to cron's mail and its log)."""
    if not isinstance(value, str) or "@" not in value:
        return value
    try:
        password = urlsplit(value.strip()).password
    except ValueError:
        return value
    return value.replace(f":{password}@", ":***@", 1) if password else value


class SettingsRejected(UsageError):
    """A bad environment setting (`load_settings`): `names` the variables refused, or DOTENV for a `.env` file that
    cannot be read."""

    def __init__(self, message: str, names: list[str]):
        super().__init__(message)
        self.names = names


# The settings that place the books or date what is recorded in them: with one refused, a job's refusal has nowhere, or
# no time, to be recorded (a system clock's time in books kept on LLMTRADE_NOW's would stand ahead of them).
DOTENV = ".env"  # SettingsRejected's name for a `.env` file that cannot be read (`_check_dotenv`)
_PLACE_THE_BOOKS = {
    DOTENV: "the .env file, which may name their database or the time, cannot be read",
    "DATABASE_URL": "DATABASE_URL names their database",
    "LLMTRADE_HOME": "LLMTRADE_HOME holds their embedded database",
    "LLMTRADE_NOW": "LLMTRADE_NOW sets the time every record is dated by",
}


def settings_besides(refused: SettingsRejected) -> Settings | str:
    """The settings with the variables `refused` names left unset (their defaults), to record the refusal in the books
    with; or, when one of them places the books or dates their records, why it cannot be."""
    cannot = [_PLACE_THE_BOOKS[name] for name in refused.names if name in _PLACE_THE_BOOKS]
    if cannot:
        return "; ".join(cannot)
    fields = {field.alias: field for field in Settings.model_fields.values() if field.alias in refused.names}
    # Given as arguments, the defaults win over the environment and `.env` (pydantic-settings' order).
    return Settings(**{alias: field.get_default(call_default_factory=True) for alias, field in fields.items()})


# Read by a benchmark's wrapper of llmtrade (benchmarks/ended_held_reads.py), not by llmtrade itself.
_READ_ELSEWHERE = frozenset({"LLMTRADE_BENCH_COUNT"})


def unknown_variables() -> list[str]:
    """One line for each LLMTRADE_ variable set (the environment, `.env`) that llmtrade reads no setting from, with the
    one it likely meant: a trial's LLMTRADE_CONFIG_DIRS (and LLMTRADE_HOMR) was ignored without a word, and the
    command ran on the packaged config (and another home) as if none had been given."""
    import difflib

    known = {field.alias for field in Settings.model_fields.values() if field.alias} | _READ_ELSEWHERE
    given = sorted(n for n in {**_dotenv(), **os.environ} if n.startswith("LLMTRADE_") and n not in known)
    lines = []
    for name in given:
        near = difflib.get_close_matches(name, sorted(known - _READ_ELSEWHERE), n=1, cutoff=0.8)
        meant = (
            f"; did you mean {near[0]}?" if near else f" (llmtrade reads: {', '.join(sorted(known - _READ_ELSEWHERE))})"
        )
        lines.append(f"warning: {name} is set but is no setting llmtrade reads: it is ignored{meant}")
    return lines


def load_settings(**overrides: object) -> Settings:
    """Read the settings; a bad value becomes a UsageError (SettingsRejected) naming the variable."""
    _check_dotenv()
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems, names = [], []
        for err in exc.errors():
            name = ".".join(str(part) for part in err["loc"])
            names.append(name)
            said = err["msg"].removeprefix("Value error, ")
            if name in _RANGES and err["type"] != "value_error":
                said = _RANGES[name]  # pydantic's words ("Input should be greater than or equal to 0") name no range
            elif err["type"].startswith("datetime"):  # pydantic's words ("input is too short") say nothing of the form
                why = said.partition(", ")[2]
                said = (
                    f"not a date and time{f' ({why})' if why else ''}: give ISO 8601 with a UTC offset, "
                    "e.g. 2026-01-07T08:00:00-05:00"
                )
            problems.append(f"{name}={_shown(err.get('input'))!r}: {said}")
        raise SettingsRejected("bad environment setting: " + "; ".join(problems), names) from None
