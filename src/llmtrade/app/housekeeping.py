"""The small read-only commands' results: configuration, database, schedule, kill switch.

Like every job's, each is a frozen model, so `--json` is its dump and `llmtrade schema` publishes
its shape; the keys are those these commands printed before they had a model.
"""

from __future__ import annotations

import os
from typing import Any

from pydantic import ConfigDict, Field, RootModel

from llmtrade.app.container import Container
from llmtrade.app.results import Result
from llmtrade.config.models import Config
from llmtrade.risk.controls import trading_enabled
from llmtrade.workflows.schedule import next_fires


class ConfigView(Result):
    """`config show --json`: where the configuration came from, its resolved values, and which
    environment variables it names are set (masked: the last four characters at most)."""

    source: str
    config: dict[str, Any]
    environment: dict[str, str]


class AppliedMigration(Result):
    number: int
    name: str
    applied_at: str


class AwaitingRestart(Result):
    """A server setting its configuration files changed that it takes only when it next starts."""

    name: str
    running: str
    next_start: str


class DatabaseStatus(Result):
    """`db status --json`: where the database is, the migrations applied and pending, the event count, and the
    server settings waiting for a restart (e.g. the embedded server's shared_buffers after an upgrade)."""

    database: str
    embedded: bool
    # None, each: the embedded server is stopped (`running`), and not started to read them (an empty list read as
    # "no migration applied, none pending" of books that had them all)
    migrations: list[AppliedMigration] | None
    pending: list[int] | None
    events: int | None
    applied_now: list[int]  # migrations this very command applied (every command migrates on start)
    awaiting_restart: list[AwaitingRestart] = Field(default_factory=list)
    # How to look at it with psql: a cron trial found no way to (the embedded server listens on a socket only).
    connect: str = ""
    # False: the embedded server is stopped, said as such; a status is no reason to start it (the next command does).
    running: bool = True


class FireTime(Result):
    job: str
    kind: str
    week_id: str
    new_york: str  # ISO 8601 with the New York offset
    local: str  # the same instant in the machine's time zone


class ScheduleView(RootModel[list[FireTime]]):
    """`schedule show --json`: the next fire times, soonest first."""

    model_config = ConfigDict(frozen=True)


class TradingStatus(Result):
    """`trading status --json`: the global kill switch."""

    enabled: bool
    reason: str


DOCUMENTS: dict[str, Any] = {
    "config show": ConfigView,
    "db status": DatabaseStatus,
    "schedule show": ScheduleView,
    "trading status": TradingStatus,
}


def key_variables(config: Config) -> set[str]:
    """The names of the key variables the configuration reads (models' providers, Alpaca accounts and data)."""
    names = {p.api_key_env for p in config.models.providers.values() if p.api_key_env}
    for account in config.accounts.accounts:
        if account.alpaca:
            names |= {account.alpaca.key_env, account.alpaca.secret_env}
    data = config.assets.market_data.alpaca
    return names | {data.key_env, data.secret_env}


def config_view(app: Container) -> ConfigView:
    loaded = app.loaded
    config = loaded.config
    environment = {name: _mask(os.environ.get(name)) for name in sorted(key_variables(config))}
    url = app.settings.database_url
    environment["DATABASE_URL"] = _mask(url) if url else "not set (embedded)"
    return ConfigView(source=loaded.source, config=config.model_dump(mode="json"), environment=environment)


def database_status(app: Container) -> DatabaseStatus:
    from llmtrade.storage import migrations  # lazy: psycopg
    from llmtrade.storage.database import embedded_stopped
    from llmtrade.storage.embedded_settings import awaiting_restart

    settings = app.settings
    if not settings.database_url and embedded_stopped(settings.pgdata):
        # Asked after `db stop`, the status started the server again: the user read "running" for what was stopped.
        return DatabaseStatus(
            database=f"embedded PostgreSQL in {settings.pgdata}",
            embedded=True,
            migrations=None,
            pending=None,
            events=None,
            applied_now=[],
            running=False,
        )
    with app.storage(persist=False) as storage:
        ran = migrations.applied(storage.conn)
        done = {m.number for m in ran}
        return DatabaseStatus(
            database=storage.location.description,
            embedded=storage.location.embedded,
            migrations=[
                AppliedMigration(number=m.number, name=m.name, applied_at=m.applied_at.isoformat()) for m in ran
            ],
            pending=[m.number for m in migrations.available() if m.number not in done],
            events=storage.events.count(),
            applied_now=[m.number for m in storage.migrated_now],
            awaiting_restart=[
                AwaitingRestart(name=n, running=r, next_start=x) for n, r, x in awaiting_restart(storage.conn)
            ],
            connect=(
                f"psql -h {storage.location.pgdata} -U {storage.conn.info.user} -d {storage.conn.info.dbname}"
                if storage.location.embedded
                else 'psql "$DATABASE_URL"'
            ),
        )


def schedule_view(app: Container, count: int) -> ScheduleView:
    fires = next_fires(app.loaded.config.schedule, app.calendar, app.clock.now(), count)
    return ScheduleView(
        [
            FireTime(
                job=job.key,
                kind=job.kind.value,
                week_id=str(job.week_id),
                new_york=job.at.isoformat(),
                local=job.at.astimezone().isoformat(),
            )
            for job in fires
        ]
    )


def trading_status(app: Container) -> TradingStatus:
    with app.storage(persist=False) as storage:
        enabled, why = trading_enabled(storage.events)
    return TradingStatus(enabled=enabled, reason=why)


def _mask(value: str | None) -> str:
    if not value:
        return "not set"
    return f"set (…{value[-4:]})" if len(value) >= 12 else "set"
