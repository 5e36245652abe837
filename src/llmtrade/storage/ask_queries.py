"""The read-only questions `llmtrade ask` may put to the event store (issue 16), and nothing else.

A model chooses among these tools and fills in their arguments; the arguments are validated into strict
models and bound as query parameters, never spliced into SQL. Every query runs on a connection of its
own opened with `default_transaction_read_only=on`, inside a transaction that also says `SET TRANSACTION
READ ONLY` and carries a statement timeout, and returns at most MAX_ROWS rows with long payloads cut:
a model that asks for a write, or smuggles one into an argument, meets PostgreSQL's refusal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from llmtrade.storage.connection import connect
from llmtrade.storage.event_columns import PAYLOAD_AS_READ

MAX_ROWS = 50
PAYLOAD_CHARS = 800
TIMEOUT_MS = 5000
# The payload as every read of the store gives it (old events upcast: storage/event_columns.py).
_COLUMNS = f"id, type, stream, week_id, account_id, run_id, occurred_at, {PAYLOAD_AS_READ} AS payload"
# How a run ends: a killed run's RunKilled too (app/killed_runs.py), which the tools left out: a model read a killed
# run as one with no end.
RUN_ENDS = ("RunFinished", "RunFailed", "RunKilled")
ORDER_TYPES = (
    "TradeIntended",
    "AccountWeekHeld",
    "OrdersPlanned",
    "OrderSubmitted",
    "OrderRejected",
    "OrderBlocked",
    "LegHeldBack",
    "PaperOrderAccepted",
    "PaperOrderCanceled",
    "OrderFilled",
    "QueuedOrderCanceled",
    "PlanAbandoned",
)


class ToolRefused(Exception):
    """A tool call that cannot run: unknown tool, arguments that are not JSON or do not fit; said to the model."""


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


Limit = Annotated[StrictInt, Field(ge=1, le=MAX_ROWS)]
Text = Annotated[StrictStr, Field(min_length=1, max_length=100)]


class EventsArgs(_Args):
    """Events matching every filter given, newest first."""

    run_id: Text | None = None
    week_id: date | None = Field(None, description="a week's Wednesday, YYYY-MM-DD")
    account_id: Text | None = None
    types: list[Text] | None = Field(None, max_length=20, description="event types, e.g. OrderFilled")
    since: datetime | None = Field(None, description="ISO 8601 time, inclusive")
    until: datetime | None = Field(None, description="ISO 8601 time, exclusive")
    limit: Limit = 20


class RunArgs(_Args):
    """One run: its start, its end, and how many events of each type it wrote."""

    run_id: Text


class RunsArgs(_Args):
    """Runs (RunStarted) newest first, with how each ended."""

    command: Text | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: Limit = 20


class OrdersArgs(_Args):
    """An account's orders and fills (intended, planned, submitted, rejected, blocked, filled...)."""

    account_id: Text
    week_id: date | None = None
    limit: Limit = 30


class ReadOnlyEvents:
    """The tools' queries on a connection that cannot write; `call(name, arguments_json)` for a model's call."""

    def __init__(self, url: str):
        self._conn = connect(url)  # with llmtrade's session settings: the events' instants read as everywhere
        self._conn.execute("SET default_transaction_read_only TO on")
        self._conn.autocommit = False
        self._tools: dict[str, tuple[type[_Args], Callable[[Any], Any]]] = {
            "events": (EventsArgs, self.events),
            "run_summary": (RunArgs, self.run_summary),
            "runs": (RunsArgs, self.runs),
            "account_orders": (OrdersArgs, self.account_orders),
        }

    def close(self) -> None:
        self._conn.close()

    def specs(self) -> list[dict[str, Any]]:
        """The tools as an OpenAI-compatible `tools` list (function name, description, JSON schema)."""
        return [
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": model.__doc__ or name,
                    "parameters": model.model_json_schema(),
                },
            }
            for name, (model, _) in self._tools.items()
        ]

    def call(self, name: str, arguments: str) -> Any:
        """Run the named tool on `arguments` (a JSON object, as a string, as models send them).

        Raises ToolRefused for an unknown tool or arguments that are not JSON or do not fit its model."""
        if name not in self._tools:
            raise ToolRefused(f"no tool {name!r}; the tools are {', '.join(self._tools)} (all read-only)")
        model, run = self._tools[name]
        try:
            parsed = json.loads(arguments or "{}")
        except ValueError as exc:
            raise ToolRefused(f"arguments of {name} are not JSON: {exc}") from None
        try:
            args = model.model_validate(parsed)
        except ValidationError as exc:
            raise ToolRefused(f"arguments of {name} do not fit: {exc.errors(include_url=False)}") from None
        return run(args)

    # ------------------------------------------------------------------ the tools

    def events(self, args: EventsArgs) -> list[dict[str, Any]]:
        where, params = _filters(
            run_id=args.run_id, week_id=args.week_id, account_id=args.account_id, since=args.since, until=args.until
        )
        if args.types:
            where.append("type = ANY(%s)")
            params.append(list(args.types))
        return self._rows(where, params, args.limit)

    def run_summary(self, args: RunArgs) -> dict[str, Any]:
        counts = self._query(
            "SELECT type, count(*) FROM events WHERE run_id = %s GROUP BY type ORDER BY type", [args.run_id]
        )
        ends = self._rows(
            ["run_id = %s", "type = ANY(%s)"],
            [args.run_id, ["RunStarted", *RUN_ENDS, "BudgetRefused"]],
        )
        return {"run_id": args.run_id, "events_by_type": {t: n for t, n in counts}, "start_and_end": ends}

    def runs(self, args: RunsArgs) -> list[dict[str, Any]]:
        where, params = _filters(since=args.since, until=args.until)
        where.append("type = 'RunStarted'")
        if args.command:
            where.append("payload->>'command' = %s")
            params.append(args.command)
        started = self._rows(where, params, args.limit)
        ids = [row["run_id"] for row in started]
        ended = self._rows(["run_id = ANY(%s)", "type = ANY(%s)"], [ids, list(RUN_ENDS)], MAX_ROWS)
        outcome = {row["run_id"]: row for row in ended}
        return [{"started": row, "ended": outcome.get(row["run_id"])} for row in started]

    def account_orders(self, args: OrdersArgs) -> list[dict[str, Any]]:
        where, params = _filters(account_id=args.account_id, week_id=args.week_id)
        where.append("type = ANY(%s)")
        params.append(list(ORDER_TYPES))
        return self._rows(where, params, args.limit)

    # ------------------------------------------------------------------ internals

    def _rows(self, where: list[str], params: list[Any], limit: int = MAX_ROWS) -> list[dict[str, Any]]:
        sql = f"SELECT {_COLUMNS} FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT %s"
        return [_row(r) for r in self._query(sql, [*params, min(limit, MAX_ROWS)])]

    def _query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        """`sql` with `params` bound, in a read-only transaction with a timeout; nothing it does is kept."""
        with self._conn.transaction(force_rollback=True):
            self._conn.execute("SET TRANSACTION READ ONLY")
            self._conn.execute(f"SET LOCAL statement_timeout = {TIMEOUT_MS}")
            return self._conn.execute(sql, params).fetchall()  # type: ignore[arg-type]


def _filters(
    *,
    run_id: str | None = None,
    week_id: date | None = None,
    account_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    for column, value in (("run_id", run_id), ("week_id", week_id), ("account_id", account_id)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if since is not None:
        where.append("occurred_at >= %s")
        params.append(since)
    if until is not None:
        where.append("occurred_at < %s")
        params.append(until)
    return where, params


def _row(row: tuple[Any, ...]) -> dict[str, Any]:
    id_, type_, stream, week_id, account_id, run_id, occurred_at, payload = row
    text = json.dumps(payload, default=str)
    return {
        "id": id_,
        "type": type_,
        "stream": stream,
        "week_id": str(week_id) if week_id else None,
        "account_id": account_id,
        "run_id": run_id,
        "occurred_at": occurred_at.isoformat(),
        "payload": payload if len(text) <= PAYLOAD_CHARS else text[:PAYLOAD_CHARS] + " [cut]",
    }


def day_range(day: date, tz: Any) -> tuple[datetime, datetime]:
    """[start, end) of a calendar `day` in `tz`."""
    start = datetime(day.year, day.month, day.day, tzinfo=tz)
    return start, start + timedelta(days=1)
