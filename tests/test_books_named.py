"""A backtest or sweep name that names none is told which do exist, or the one near it (app/books_named.py).

A new user's trial: `leaderboard --backtest nosuch` (report, events, trace, discover performance, --versus, report
--sweep alike) said there was no such backtest and to run one, never which there were."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import time
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_sweep_unfinished_rows import _prices

runner = CliRunner()


@pytest.fixture
def held(cli_env: dict[str, str], pg_admin_url: str) -> Iterator[tuple[str, str]]:
    """A backtest's and a sweep's databases on the test server (empty: a name that exists is all these read), named
    uniquely, as other tests' backtests share the server: the backtest's and the sweep's names."""
    name = f"nu9held{uuid.uuid4().hex[:6]}"
    made = [f"llmtrade_bt_{name}", f"llmtrade_sw_{name}"]
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        for database in made:
            conn.execute(f'CREATE DATABASE "{database}"')
    yield name, name
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        for database in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.mark.parametrize(
    "command",
    [
        ["leaderboard", "--backtest"],
        ["leaderboard", "--versus"],
        ["report", "-o", "/tmp/nu9-never-written.html", "--backtest"],
        ["events", "--backtest"],
        ["trace", "20260101T000000Z-abcdef", "--backtest"],
        ["discover", "performance", "--backtest"],
    ],
    ids=lambda c: " ".join(c),
)
def test_a_misspelt_backtest_is_told_the_one_near_it(held: tuple[str, str], command: list[str]) -> None:
    backtest, _ = held
    typo = backtest[:-1]  # its last character lost
    refused = runner.invoke(app, [*command, typo])
    assert refused.exit_code == 2, refused.output
    assert f"no backtest named {typo!r}" in refused.stderr
    assert backtest in refused.stderr, refused.stderr  # listed among the held, or as the near one
    assert "Traceback" not in refused.output


def test_a_misspelt_sweep_is_told_the_one_near_it(held: tuple[str, str], tmp_path: object) -> None:
    _, sweep = held
    refused = runner.invoke(app, ["report", "--sweep", sweep[:-1], "-o", "/tmp/nu9-never-written.html"])
    assert refused.exit_code == 2, refused.output
    assert f"no sweep named {sweep[:-1]!r}" in refused.stderr and sweep in refused.stderr, refused.stderr


def test_the_backtests_and_sweeps_held_are_listed_as_their_names_were_given(
    cli_env: dict[str, str], tmp_path: Path, pg_admin_url: str
) -> None:
    """A trial's `leaderboard --versus btZ` beside a backtest named btA said "the backtests held: bta": the
    database's name, lower-cased, not the one the user gave and finds in every other message. Each start records
    its name on its database (storage/database.py `record_name`), read with the list in one query."""
    stem = uuid.uuid4().hex[:6]
    backtest, sweep = f"Nu9Bt{stem}", f"Nu9Sw{stem}"
    prices = _prices(tmp_path, time(16, 20))
    args = ["--from", "2026-01-07", "--to", "2026-01-07", "--offline", "--csv", str(prices)]
    try:
        ran = runner.invoke(app, ["backtest", *args, "--name", backtest])
        assert ran.exit_code == 0, ran.output
        spec = tmp_path / "sweep.yaml"
        spec.write_text(f"name: {sweep}\nretries: 0\nranges: [{{from: 2026-01-07, to: 2026-01-07}}]\n")
        swept = runner.invoke(app, ["backtest", "sweep", str(spec), "--csv", str(prices)])
        assert swept.exit_code == 0, swept.output
        refused = runner.invoke(app, ["leaderboard", "--versus", backtest[:-1]])
        assert refused.exit_code == 2 and backtest in refused.stderr, refused.stderr
        assert backtest.lower() not in refused.stderr, refused.stderr
        page = str(tmp_path / "r.html")
        refused = runner.invoke(app, ["report", "--sweep", sweep[:-1], "-o", page])
        assert refused.exit_code == 2 and sweep in refused.stderr, refused.stderr
        assert sweep.lower() not in refused.stderr, refused.stderr
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            names = conn.execute(
                "SELECT datname FROM pg_database WHERE datname LIKE %s OR datname LIKE %s",
                (f"llmtrade_bt_{backtest.lower()}%", f"llmtrade_%_{sweep.lower()}%"),
            ).fetchall()
            for (database,) in names:
                conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
