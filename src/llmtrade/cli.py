"""The `llmtrade` command line: parse, load config, run, print.

Start-up speed matters (cron, shell completion, `--help`), so this module imports only typer and
the standard library at the top; each command imports the heavy parts (pydantic models,
psycopg, the embedded server) when it runs. Those imports are the lazy ones the style guide
allows and each is marked.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from llmtrade import __version__
from llmtrade.console import Output, print_error
from llmtrade.errors import LlmtradeError, UsageError

if TYPE_CHECKING:
    from llmtrade.clock import Clock
    from llmtrade.config.loader import LoadedConfig
    from llmtrade.jobs import App
    from llmtrade.settings import Settings
    from llmtrade.storage.bootstrap import Storage


class _Group(TyperGroup):
    """Turns every LlmtradeError raised by any subcommand into a message and its exit code."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LlmtradeError as exc:
            print_error(str(exc))
            ctx.exit(exc.exit_code)


app = typer.Typer(
    cls=_Group,
    name="llmtrade",
    help="Run a committee of LLM portfolio managers on paper accounts, with every step recorded.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Show and check the YAML configuration.", no_args_is_help=True)
db_app = typer.Typer(
    help="The PostgreSQL database: where it is, migrations, the embedded server.", no_args_is_help=True
)
market_app = typer.Typer(help="Prices and indicators as the committee would see them.", no_args_is_help=True)
trading_app = typer.Typer(help="The global kill switch: status, disable, enable.", no_args_is_help=True)
breaker_app = typer.Typer(help="Per-account circuit breakers.", no_args_is_help=True)
schedule_app = typer.Typer(help="When the weekly run, checkpoints and postmortem fire.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(db_app, name="db")
app.add_typer(market_app, name="market")
app.add_typer(trading_app, name="trading")
app.add_typer(breaker_app, name="breaker")
app.add_typer(schedule_app, name="schedule")


class _State:
    """What the root options chose, shared with subcommands through click's context object."""

    def __init__(self, config_dir: Path | None):
        self.config_dir_option = config_dir
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            from llmtrade.settings import load_settings  # lazy: pydantic-settings costs ~0.1 s

            self._settings = load_settings()
        return self._settings

    @property
    def config_dir(self) -> Path | None:
        return self.config_dir_option or self.settings.config_dir

    def config(self) -> LoadedConfig:
        from llmtrade.config.loader import load_config  # lazy: yaml + pydantic models

        return load_config(self.config_dir)

    def clock(self) -> Clock:
        from llmtrade.clock import make_clock

        return make_clock(self.settings.now)

    def storage(self) -> Storage:
        from llmtrade.storage.bootstrap import open_storage  # lazy: psycopg and the embedded server

        return open_storage(self.settings, self.clock())


def _state(ctx: typer.Context) -> _State:
    state = ctx.find_root().obj
    assert isinstance(state, _State)
    return state


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmtrade {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Config folder (default: $LLMTRADE_CONFIG_DIR, else packaged defaults)."),
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    ctx.obj = _State(config)


# ------------------------------------------------------------------ init and config


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to write the YAML files into.")] = Path("llmtrade-config"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite files that already exist.")] = False,
) -> None:
    """Write editable copies of the default configuration."""
    from llmtrade.config.loader import write_defaults  # lazy: see module docstring

    written = write_defaults(directory, overwrite=force)
    out = Output()
    for path in written:
        out.line(f"wrote {path}")
    out.line(f"use it with: export LLMTRADE_CONFIG_DIR={directory.resolve()}  (or --config {directory})")


@config_app.command("validate")
def config_validate(ctx: typer.Context) -> None:
    """Check the configuration; exits non-zero and names every problem when it is invalid."""
    loaded = _state(ctx).config()
    Output().line(f"configuration OK ({loaded.source})")


@config_app.command("show")
def config_show(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Print the resolved configuration and which secrets are set (values masked)."""
    state = _state(ctx)
    loaded = state.config()
    secrets = _secret_status(loaded, state.settings)
    if as_json:
        data = {"source": loaded.source, "config": loaded.config.model_dump(mode="json"), "environment": secrets}
        typer.echo(json.dumps(data, indent=2))
        return
    import yaml  # lazy: only this command prints YAML

    out = Output()
    out.heading(f"configuration from {loaded.source}")
    for section, model in loaded.config:
        out.line(f"# {section}.yaml")
        out.line(yaml.safe_dump(model.model_dump(mode="json"), sort_keys=False, width=110).rstrip())
    out.table("environment", ["variable", "value"], sorted(secrets.items()))


def _secret_status(loaded: LoadedConfig, settings: Settings) -> dict[str, str]:
    """Each variable the config names, masked: enough to tell which key is set, never the key."""
    config = loaded.config
    names = {p.api_key_env for p in config.models.providers.values() if p.api_key_env}
    for account in config.accounts.accounts:
        if account.alpaca:
            names |= {account.alpaca.key_env, account.alpaca.secret_env}
    status = {name: _mask(os.environ.get(name)) for name in names}
    status["DATABASE_URL"] = _mask(settings.database_url) if settings.database_url else "not set (embedded)"
    return status


def _mask(value: str | None) -> str:
    if not value:
        return "not set"
    return f"set (…{value[-4:]})" if len(value) >= 12 else "set"


# ------------------------------------------------------------------ database


@db_app.command("status")
def db_status(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """Where the database is, which migrations ran, how many events it holds."""
    from llmtrade.storage import migrations  # lazy: see module docstring

    with _state(ctx).storage() as storage:
        ran = migrations.applied(storage.conn)
        count = storage.events.count()
        pending = [m for m in migrations.available() if m.number not in {a.number for a in ran}]
        if as_json:
            typer.echo(
                json.dumps(
                    {
                        "database": storage.location.description,
                        "embedded": storage.location.embedded,
                        "migrations": [
                            {"number": m.number, "name": m.name, "applied_at": m.applied_at.isoformat()} for m in ran
                        ],
                        "pending": [m.number for m in pending],
                        "events": count,
                    }
                )
            )
            return
        out = Output()
        out.pairs(
            [
                ("database", storage.location.description),
                ("migrations applied now", ", ".join(f"{m.number:04d}" for m in storage.migrated_now) or "none"),
                ("events", count),
            ]
        )
        out.table(
            "migrations",
            ["number", "name", "applied at"],
            [(f"{m.number:04d}", m.name, m.applied_at.isoformat(timespec="seconds")) for m in ran],
        )


@db_app.command("migrate")
def db_migrate(ctx: typer.Context) -> None:
    """Apply any migrations not yet applied (every command also does this on start)."""
    with _state(ctx).storage() as storage:
        applied = storage.migrated_now
        Output().line(
            "applied " + ", ".join(f"{m.number:04d}_{m.name}" for m in applied) if applied else "already up to date"
        )


@db_app.command("stop")
def db_stop(ctx: typer.Context) -> None:
    """Stop the embedded PostgreSQL server (the next command starts it again)."""
    from llmtrade.storage.database import stop_embedded  # lazy: see module docstring

    settings = _state(ctx).settings
    if settings.database_url:
        raise UsageError("DATABASE_URL is set: llmtrade does not manage that server")
    stopped = stop_embedded(settings.pgdata)
    Output().line(
        f"stopped the embedded server in {settings.pgdata}" if stopped else "the embedded server is not running"
    )


# ------------------------------------------------------------------ events


def _parse_week(value: str | None) -> date | None:
    if value is None:
        return None
    from llmtrade.domain.weeks import week_id_for

    day = _parse_date(value, "--week")
    return week_id_for(day) if day else None


@app.command()
def events(
    ctx: typer.Context,
    week: Annotated[
        str | None, typer.Option(help="Any date in the week (YYYY-MM-DD); the week's Wednesday is used.")
    ] = None,
    type: Annotated[list[str] | None, typer.Option("--type", "-t", help="Event type; repeat for several.")] = None,
    account: Annotated[str | None, typer.Option(help="Account id, e.g. acct_3.")] = None,
    run: Annotated[str | None, typer.Option(help="Run id.")] = None,
    stream: Annotated[str | None, typer.Option(help="Stream name.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many events (oldest first).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines: one event per line.")] = False,
) -> None:
    """List recorded events, oldest first."""
    week_id = _parse_week(week)
    with _state(ctx).storage() as storage:
        found = storage.events.read(
            week_id=week_id, run_id=run, type=type or None, account_id=account, stream=stream, limit=limit
        )
    if as_json:
        for event in found:
            typer.echo(event.model_dump_json())
        return
    Output().table(
        f"{len(found)} events",
        ["id", "occurred at", "type", "stream", "v", "week", "account", "payload"],
        [
            (
                e.id,
                e.occurred_at.isoformat(timespec="seconds"),
                e.type,
                e.stream,
                e.version,
                e.week_id or "",
                e.account_id or "",
                _short(json.dumps(e.payload, separators=(",", ":"))),
            )
            for e in found
        ],
    )


# ------------------------------------------------------------------ council


@app.command()
def council(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="The question for the council.")],
    offline: Annotated[
        bool, typer.Option("--offline", help="Use the deterministic rules provider, no network.")
    ] = False,
    replay: Annotated[bool, typer.Option("--replay", help="Answer only from the cache of earlier live calls.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Ask every council model, have them rank each other anonymously, and let the chairman answer."""
    if not query.strip():
        raise UsageError("the query is empty")
    from llmtrade.app.runs import execute, start_run
    from llmtrade.app.session import open_session
    from llmtrade.council.general import GeneralCouncil
    from llmtrade.domain.council import CouncilConvened
    from llmtrade.domain.events import NewEvent
    from llmtrade.domain.runs import new_run_id
    from llmtrade.pipeline.context import PipelineContext
    from llmtrade.pipeline.pipeline import Pipeline
    from llmtrade.reports import mode_banner, print_council, usage_json
    from llmtrade.workflows import council_stages as stages

    state = _state(ctx)
    loaded = state.config()
    clock = state.clock()
    with state.storage() as storage:
        session = open_session(
            state.settings, loaded, clock, storage, config_dir=state.config_dir, offline=offline, replay=replay
        )
        print_error_banner(mode_banner(session.decision))
        models = loaded.config.models
        members = models.council.models or list(models.pms)
        chairman = models.council.chairman or models.chairman
        run_id = new_run_id(clock.now())
        run = start_run(
            session, run_id=run_id, command="council", arguments={"query": query, "offline": offline, "replay": replay}
        )
        body = GeneralCouncil(session.gateway, session.prompts, members, chairman, run_id)
        storage.events.append(
            [
                NewEvent.of(
                    CouncilConvened(query=query, members=[m.model for m in members], chairman=chairman.model),
                    stream=stages.council_stream(run_id),
                    run_id=run_id,
                )
            ]
        )
        pipeline = Pipeline(stages.council_stages(body, storage.events), storage.events)
        result = execute(pipeline.run(PipelineContext(run_id=run_id).with_value(stages.QUERY, query)), session, run)
        failures = result.get(stages.FAILURES)
        duration = run.finished(session.gateway.totals, degraded=bool(failures))
    report = {
        "run_id": run_id,
        "mode": session.decision.mode.value,
        "query": query,
        "answers": [a.model_dump() for a in result.get(stages.ANSWERS)],
        "failures": [{"model": f.model, "stage": f.stage, "error": str(f.error)} for f in failures],
        "rankings": [r.model_dump() for r in result.get(stages.RANKINGS)],
        "standings": [row.model_dump() for row in result.get(stages.STANDINGS)],
        "chairman": chairman.model,
        "verdict": result.get(stages.VERDICT).answer,
        "usage": usage_json(session.gateway.totals),
        "duration_ms": round(duration, 1),
    }
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        print_council(Output(), report)


# ------------------------------------------------------------------ market and research


def _is_live(state: _State, loaded: LoadedConfig, offline: bool) -> tuple[bool, str]:
    from llmtrade.llm.gateway import LLMMode  # lazy: see module docstring
    from llmtrade.llm.providers import decide_mode
    from llmtrade.reports import mode_banner

    decision = decide_mode(loaded.config.models, state.settings, offline=offline, replay=False)
    return decision.mode is LLMMode.LIVE, mode_banner(decision)


@market_app.command("bars")
def market_bars(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Argument(help="A symbol of the universe, e.g. SPY.")],
    days: Annotated[int, typer.Option("--days", min=1, max=3000, help="Sessions to show.")] = 10,
    offline: Annotated[bool, typer.Option("--offline", help="Offline market (CSV folder or synthetic).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON Lines, one bar per line.")] = False,
) -> None:
    """The last daily bars of SYMBOL complete as of now, marked with their source."""
    from datetime import timedelta

    state = _state(ctx)
    loaded = state.config()
    symbol = symbol.upper()
    if loaded.config.assets.instrument(symbol) is None:
        raise UsageError(f"{symbol} is not in the universe ({', '.join(loaded.config.assets.symbols)})")
    live, banner = _is_live(state, loaded, offline)
    print_error_banner(banner)
    with state.storage() as storage:
        market = _app(ctx, loaded).market(storage, live=live, run_id=None, week_id=None)
        now = state.clock().now()
        end = market.calendar.last_completed_session(now)
        if end is None:
            raise UsageError(f"no completed session before {now.isoformat()}")
        series = market.bars([symbol], end - timedelta(days=int(days * 1.5) + 10), end)
    bars = series.bars[symbol][-days:]
    if as_json:
        for bar in bars:
            typer.echo(bar.model_dump_json())
        return
    label = "SYNTHETIC prices" if series.synthetic else "prices"
    Output().table(
        f"{symbol}: {label} from {series.provider}{' (cache)' if series.from_cache else ''}, as of {now.isoformat()}",
        ["day", "open", "high", "low", "close", "volume", "source"],
        [
            (b.day, f"{b.open:.2f}", f"{b.high:.2f}", f"{b.low:.2f}", f"{b.close:.2f}", int(b.volume), b.source)
            for b in bars
        ],
    )


@market_app.command("snapshot")
def market_snapshot(
    ctx: typer.Context,
    offline: Annotated[bool, typer.Option("--offline", help="Offline market (CSV folder or synthetic).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Indicators for the whole universe as of now: what the committee would see."""
    from llmtrade.market.snapshot import take_snapshot  # lazy: see module docstring
    from llmtrade.reports import print_snapshot

    state = _state(ctx)
    loaded = state.config()
    live, banner = _is_live(state, loaded, offline)
    print_error_banner(banner)
    with state.storage() as storage:
        market = _app(ctx, loaded).market(storage, live=live, run_id=None, week_id=None)
        snapshot = take_snapshot(market, loaded.config.assets.symbols, state.clock().now())
    if as_json:
        typer.echo(snapshot.model_dump_json(indent=2))
    else:
        print_snapshot(Output(), snapshot)


@app.command()
def research(
    ctx: typer.Context,
    week: Annotated[str | None, typer.Option(help="Any date in the week (YYYY-MM-DD); default: this week.")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Rules provider and offline market, no network.")] = False,
    replay: Annotated[bool, typer.Option("--replay", help="Answer only from the cache of earlier live calls.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the packs as JSON.")] = False,
) -> None:
    """Build (or show, when already built) the week's market snapshot and research packs."""
    from llmtrade.app.runs import execute, start_run
    from llmtrade.app.session import open_session
    from llmtrade.domain.runs import new_run_id
    from llmtrade.llm.gateway import LLMMode
    from llmtrade.pipeline.context import PipelineContext
    from llmtrade.pipeline.pipeline import Pipeline
    from llmtrade.reports import mode_banner, print_research
    from llmtrade.workflows import research_stages as stages
    from llmtrade.workflows.weekly import require_same_mode
    from llmtrade.workflows.weeks import resolve_week

    state = _state(ctx)
    loaded = state.config()
    clock = state.clock()
    now = clock.now()
    week_id, asof = resolve_week(now, _parse_date(week, "--week"), loaded.config.schedule)
    with state.storage() as storage:
        session = open_session(
            state.settings, loaded, clock, storage, config_dir=state.config_dir, offline=offline, replay=replay
        )
        print_error_banner(mode_banner(session.decision))
        require_same_mode(storage.events, week_id, session.decision.mode)
        already = stages.stored_packs(storage.events, week_id) is not None
        run_id = new_run_id(now)
        market = _app(ctx, loaded).market(
            storage, live=session.decision.mode is not LLMMode.OFFLINE, run_id=run_id, week_id=week_id
        )
        config = loaded.config
        pipeline = Pipeline(
            [
                stages.MarketSnapshotStage(market, config.assets.symbols, storage.events),
                stages.ResearchStage(
                    session.gateway, session.prompts, config.models.research, config.assets.universe, storage.events
                ),
            ],
            storage.events,
        )
        run = start_run(
            session,
            run_id=run_id,
            command="research",
            arguments={"week": week, "offline": offline, "replay": replay},
            week_id=week_id,
        )
        context = PipelineContext(run_id=run_id, week_id=week_id).with_value(stages.ASOF, asof)
        result = execute(pipeline.run(context), session, run)
        degraded = result.get(stages.DEGRADED)
        run.finished(session.gateway.totals, degraded=bool(degraded))
    packs = result.get(stages.RESEARCH_PACKS)
    if as_json:
        typer.echo(json.dumps([p.model_dump(mode="json") for p in packs], indent=2))
        return
    out = Output()
    if already:
        out.line(f"week {week_id}: research was already done; showing the stored packs (they are frozen)")
    print_research(out, packs, degraded)


# ------------------------------------------------------------------ the weekly run


@app.command("run-weekly")
def run_weekly(
    ctx: typer.Context,
    week: Annotated[str | None, typer.Option(help="Any date in the week (YYYY-MM-DD); default: this week.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Do everything except send orders.")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Rules provider, offline market, paper brokers.")] = False,
    replay: Annotated[bool, typer.Option("--replay", help="Answer only from the cache of earlier live calls.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """The week's committee: research, pitches, anonymous peer review, chairman, risk gate, orders."""
    from llmtrade import jobs  # lazy: see module docstring
    from llmtrade.reports import print_weekly

    report = jobs.weekly(
        _app(ctx),
        week=_parse_date(week, "--week"),
        dry_run=dry_run,
        offline=offline,
        replay=replay,
        observer=lambda calls: _progress(as_json, calls),
    )
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    elif report.get("status") == "complete":
        Output().line(
            f"week {report['week_id']} is already complete (run {report['completed_by']['run_id']} "
            f"at {report['at']}): nothing to do"
        )
    else:
        print_weekly(Output(), report)


@app.command()
def checkpoint(
    ctx: typer.Context,
    time: Annotated[str, typer.Argument(help="A configured checkpoint time, e.g. 12:00 (New York).")],
    week: Annotated[str | None, typer.Option(help="Any date in the week (YYYY-MM-DD); default: this week.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide, but record and send nothing.")] = False,
    offline: Annotated[bool, typer.Option("--offline", help="Rules provider, offline market, paper brokers.")] = False,
    replay: Annotated[bool, typer.Option("--replay", help="Answer only from the cache of earlier live calls.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Every account holding a position re-judges it from the week's frozen inputs: STAY, EXIT, FLIP, REDUCE."""
    from llmtrade import jobs  # lazy: see module docstring
    from llmtrade.reports import print_checkpoint

    report = jobs.checkpoint(
        _app(ctx), time, week=_parse_date(week, "--week"), dry_run=dry_run, offline=offline, replay=replay
    )
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        print_checkpoint(Output(), report)


@trading_app.command("status")
def trading_status(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
) -> None:
    """Whether orders may be placed (the global kill switch)."""
    from llmtrade.risk.controls import trading_enabled  # lazy: see module docstring

    with _state(ctx).storage() as storage:
        enabled, why = trading_enabled(storage.events)
    if as_json:
        typer.echo(json.dumps({"enabled": enabled, "reason": why}))
    else:
        Output().line("trading is enabled" if enabled else f"trading is DISABLED: {why}")


@trading_app.command("disable")
def trading_disable(
    ctx: typer.Context, reason: Annotated[str, typer.Option(help="Why; recorded with the event.")] = "disabled by hand"
) -> None:
    """Stop all order placement, for every account, until `trading enable`."""
    from llmtrade.risk.controls import set_trading  # lazy: see module docstring

    with _state(ctx).storage() as storage:
        set_trading(storage.events, False, reason)
    Output().line(f"trading disabled: {reason}")


@trading_app.command("enable")
def trading_enable(
    ctx: typer.Context, reason: Annotated[str, typer.Option(help="Why; recorded with the event.")] = "enabled by hand"
) -> None:
    """Allow order placement again."""
    from llmtrade.risk.controls import set_trading  # lazy: see module docstring

    with _state(ctx).storage() as storage:
        set_trading(storage.events, True, reason)
    Output().line(f"trading enabled: {reason}")


@breaker_app.command("reset")
def breaker_reset(ctx: typer.Context, account: Annotated[str, typer.Argument(help="Account id, e.g. acct_3.")]) -> None:
    """Resume a halted account by hand (its drawdown peak restarts from its current equity)."""
    from llmtrade import jobs  # lazy: see module docstring

    state = jobs.reset_breaker(_app(ctx), account)
    Output().line(f"{account}: breaker reset; trading resumes (peak equity now {state.peak_equity:,.2f})")


@app.command()
def postmortem(
    ctx: typer.Context,
    week: Annotated[str | None, typer.Option(help="Any date in the week to review; default: last week.")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Rules provider, offline market.")] = False,
    replay: Annotated[bool, typer.Option("--replay", help="Answer only from the cache of earlier live calls.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Score a finished week per account: P/L, the thesis against what happened, frozen indicators, reflections."""
    from llmtrade import jobs  # lazy: see module docstring
    from llmtrade.reports import print_postmortem

    report = jobs.postmortem(_app(ctx), week=_parse_date(week, "--week"), offline=offline, replay=replay)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        print_postmortem(Output(), report)


@app.command()
def status(
    ctx: typer.Context,
    offline: Annotated[bool, typer.Option("--offline", help="Value positions with the offline market.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Each account's equity, P/L, returns against FLAT and SPY, drawdown, hit rate, positions and breaker."""
    from llmtrade import jobs  # lazy: see module docstring
    from llmtrade.reports import print_status

    report = jobs.status(_app(ctx), offline=offline)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        print_status(Output(), report)


@schedule_app.command("show")
def schedule_show(
    ctx: typer.Context,
    count: Annotated[int, typer.Option("--count", min=1, max=200, help="How many fire times.")] = 12,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """The next fire times of the weekly run, checkpoints and postmortem, in New York and local time."""
    from llmtrade.market.calendar import TradingCalendar  # lazy: see module docstring
    from llmtrade.workflows.schedule import next_fires

    state = _state(ctx)
    jobs_ahead = next_fires(state.config().config.schedule, TradingCalendar(), state.clock().now(), count)
    rows = [
        {
            "job": job.key,
            "kind": job.kind.value,
            "week_id": str(job.week_id),
            "new_york": job.at.isoformat(),
            "local": job.at.astimezone().isoformat(),
        }
        for job in jobs_ahead
    ]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    Output().table(
        "next fire times (weekends and NYSE holidays skipped)",
        ["kind", "week", "New York", "local"],
        [(r["kind"], r["week_id"], r["new_york"], r["local"]) for r in rows],
    )


@schedule_app.command("crontab")
def schedule_crontab(
    every: Annotated[int, typer.Option("--every", min=1, max=60, help="Minutes between run-due wake-ups.")] = 5,
    log: Annotated[str, typer.Option("--log", help="Where cron's output goes.")] = "~/llmtrade-cron.log",
) -> None:
    """Crontab lines that drive everything through `llmtrade run-due`."""
    import shutil  # lazy: see module docstring
    import sys

    from llmtrade.workflows.schedule import crontab_lines

    executable = shutil.which("llmtrade") or str(Path(sys.executable).parent / "llmtrade")
    for line in crontab_lines(executable, every_minutes=every, log=log):
        typer.echo(line)


@app.command("run-due")
def run_due(
    ctx: typer.Context,
    offline: Annotated[bool, typer.Option("--offline", help="Run the due jobs offline.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the jobs' reports as JSON.")] = False,
) -> None:
    """Run whatever is due and not yet done (postmortem, weekly run, checkpoint), and nothing else."""
    from llmtrade import jobs  # lazy: see module docstring

    results = jobs.run_due(_app(ctx), offline=offline)
    if as_json:
        typer.echo(json.dumps(results, indent=2, default=str))
        return
    out = Output()
    if not results:
        out.line("nothing is due")
    for result in results:
        out.line(f"ran {result['job']}")


def _app(ctx: typer.Context, loaded: LoadedConfig | None = None) -> App:
    """The jobs' view of this invocation; `loaded` spares re-reading a config the command already has."""
    from llmtrade.jobs import App  # lazy: see module docstring

    state = _state(ctx)
    config = loaded or state.config()
    return App(state.settings, config, state.clock(), state.config_dir, lambda text: print_error(text, prefix=""))


def _progress(quiet: bool, calls: Callable[[], int]) -> Callable[[str, str, float | None], None]:
    """Stage-by-stage progress on stderr (stdout keeps only the report), with each stage's model calls."""
    seen = {"calls": 0}

    def observe(stage: str, state: str, seconds: float | None) -> None:
        made = calls() - seen["calls"]
        seen["calls"] = calls()
        if quiet and state != "failed":
            return
        text = f"{stage}: {state}"
        if seconds is not None:
            text += f" in {seconds:.2f} s" + (f" ({made} model calls)" if made else "")
        print_error(text, prefix="  ")

    return observe


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option} {value!r} is not a date (use YYYY-MM-DD)") from None


def print_error_banner(text: str) -> None:
    """The mode banner goes to stderr, so `--json` output on stdout stays clean."""
    print_error(text, prefix="")


def _short(text: str, width: int = 80) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def main() -> None:
    app()
