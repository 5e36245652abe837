"""A failed run of a sweep is recorded (SweepRunFailed), retried, and does not stop the others; the sweep then
exits 1 with a summary naming it, and a rerun retries only it. Serial executor, real backtests (1 week)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmtrade.cli import app as cli
from llmtrade.clock import SystemClock
from llmtrade.config.loader import load_config
from llmtrade.errors import UsageError
from llmtrade.settings import Settings
from llmtrade.storage.bootstrap import open_storage
from llmtrade.storage.database import backtest_database, locate, sibling
from llmtrade.storage.llm_cache import AnswerCache, CachedAnswer
from llmtrade.sweep import work
from llmtrade.sweep.driver import live_answers, prepare, sweep_database
from tests.support import assert_obeys

runner = CliRunner()


def test_a_failed_run_is_retried_recorded_and_does_not_stop_the_others(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"f{uuid.uuid4().hex[:8]}"
    path = tmp_path / "sweep.yaml"
    path.write_text(
        f"name: {name}\nretries: 1\nranges: [{{from: 2026-01-07, to: 2026-01-07}}]\n"
        "overrides: {broken: {}, flaky: {risk.limits.max_position_pct: 0.05}}\n"
    )
    attempts: Counter[str] = Counter()
    real = work._backtest

    def faulty(plan: Any, shared: Any) -> dict[str, Any]:
        attempts[plan.axes["overrides"]] += 1
        if plan.axes["overrides"] == "broken":
            raise RuntimeError("disk on fire")
        if attempts["flaky"] == 1:
            raise ConnectionError("the server went away")
        return real(plan, shared)

    monkeypatch.setattr(work, "_backtest", faulty)
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = runner.invoke(cli, ["backtest", "sweep", str(path), "--json"])

    assert result.exit_code == 1, result.output
    assert "1 of 2 runs failed after their retries" in result.output
    assert "overrides=broken" in result.output and "disk on fire" in result.output
    assert attempts == {"broken": 2, "flaky": 2}  # one retry each; the broken run did not stop the flaky one
    document = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    published = runner.invoke(cli, ["schema", "backtest", "sweep"])
    assert_obeys(document, published.stdout)  # the --json output obeys its published schema
    by_axis = {r["label"].split()[0]: r for r in document["runs"]}
    assert by_axis["overrides=flaky"]["status"] == "finished"
    assert by_axis["overrides=flaky"]["attempts"] == 2
    assert by_axis["overrides=broken"]["status"] == "failed"
    assert document["failed"] == 1
    assert document["leaderboard"]["finished"] == 1
    assert document["leaderboard"]["trials"] == 10  # the failed configuration was tried too

    head, _, query = database_url.partition("?")
    record_url = f"{head.rsplit('/', 1)[0]}/{sweep_database(name)}" + (f"?{query}" if query else "")
    with psycopg.connect(record_url) as conn:
        rows = conn.execute(
            "SELECT type, payload->>'label', payload->>'attempt', payload->>'final' FROM events"
            " WHERE stream = 'sweep' ORDER BY id"
        ).fetchall()
    failed = [(label.split()[0], attempt, final) for kind, label, attempt, final in rows if kind == "SweepRunFailed"]
    assert sorted(failed) == [
        ("overrides=broken", "1", "false"),
        ("overrides=broken", "2", "true"),
        ("overrides=flaky", "1", "false"),
    ]
    assert [r[1].split()[0] for r in rows if r[0] == "SweepRunFinished"] == ["overrides=flaky"]

    # The rerun tries the failed run only: the finished one is never run again.
    attempts.clear()
    again = runner.invoke(cli, ["backtest", "sweep", str(path), "--json"])
    assert again.exit_code == 1
    assert attempts == {"broken": 2}


def test_a_replay_sweep_ships_the_live_answer_cache_into_each_runs_database(database_url: str, tmp_path: Path) -> None:
    settings = Settings(DATABASE_URL=database_url, LLMTRADE_HOME=str(tmp_path / "home"))
    location = locate(settings)
    with open_storage(settings, SystemClock()) as live:
        AnswerCache(live.conn).put("k1", "openai/gpt-5.1", CachedAnswer('{"a": 1}', 10, 5, 0.001))
    answers = live_answers(settings, location)
    assert answers == [("k1", "openai/gpt-5.1", '{"a": 1}', 10, 5, 0.001)]

    path = tmp_path / "sweep.yaml"
    path.write_text("name: r\nmode: replay\nranges: [{from: 2026-01-07, to: 2026-01-07}]\n")
    _, shared, plans = prepare(settings, load_config(None), path, None, answers)
    assert shared.answers == answers
    more = [*answers, ("k2", "openai/gpt-5.1", "{}", 1, 1, None)]
    _, _, other = prepare(settings, load_config(None), path, None, more)
    assert other[0].run_id != plans[0].run_id  # another cache can give other answers: another run

    name = f"r{uuid.uuid4().hex[:8]}"
    work.seed_answers(settings, name, answers)
    run_location = sibling(location, backtest_database(name))
    with psycopg.connect(run_location.url) as conn:
        assert conn.execute("SELECT key, content FROM llm_cache").fetchall() == [("k1", '{"a": 1}')]


def test_the_summary_tells_runs_that_fail_alike_on_every_attempt_from_runs_to_retry() -> None:
    """A run that failed on an error no retry mends (a bad file, a range outside the prices: SweepRun.permanent) was
    advised to be retried with the others ("rerun the sweep to retry them"), which meets the same error again."""
    from llmtrade.commands.sweep import _advice
    from llmtrade.sweep.results import SweepRun

    def failed(label: str, *, permanent: bool) -> SweepRun:
        return SweepRun(run_id=label, backtest=label, label=label, status="failed", attempts=1, permanent=permanent)

    flaky, bad = failed("seed=1", permanent=False), failed("range=2027", permanent=True)
    assert _advice([flaky]) == "rerun the sweep to retry them"
    assert _advice([bad]).endswith("(no retry mends it): fix what its error names, then rerun the sweep")
    assert _advice([flaky, bad]) == (
        "range=2027 fails alike on every attempt (no retry mends it): fix what its error names; then rerun the sweep, "
        "which retries the others too"
    )


@pytest.mark.parametrize(
    ("fails", "code", "said"),
    [
        ({"base": "usage", "tight": "usage"}, 2, "exit 2 (bad input only: usage errors)"),
        ({"base": "usage", "tight": "temporary"}, 75, "exit 75 (a temporary failure: a rerun may succeed)"),
        ({"base": "usage", "tight": "temporary", "tighter": "operational"}, 1, "exit 1 (an operational failure)"),
    ],
)
def test_the_sweep_exits_as_its_failed_runs_would_alone(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fails: dict[str, str], code: int, said: str
) -> None:
    """A sweep whose runs had all failed on bad arguments (UsageError: exit 2 for `llmtrade backtest`) exited 1, as if
    someone had to look, and one whose failures were temporary exited 1 too: a scheduler could not tell a sweep to fix
    from one to run again. Now 2 when each failure is a usage error, 75 when one is temporary, 1 when one is
    operational; the summary says which, and --json each run's `exit_code`."""
    from llmtrade.errors import OperationalError, TemporaryError, UsageError

    errors = {
        "usage": UsageError("from: 2026-01-07: no such week"),
        "temporary": TemporaryError("the provider did not answer"),
        "operational": OperationalError("the audit found a difference"),
    }

    def failing(plan: Any, shared: Any) -> dict[str, Any]:
        raise errors[fails[plan.axes["overrides"]]]

    overrides = {"base": "{}", "tight": "{risk.limits.max_position_pct: 0.05}"}
    overrides["tighter"] = "{risk.limits.max_position_pct: 0.04}"
    path = tmp_path / "sweep.yaml"
    path.write_text(
        f"name: k{uuid.uuid4().hex[:8]}\nretries: 0\nranges: [{{from: 2026-01-07, to: 2026-01-07}}]\noverrides: {{"
        + ", ".join(f"{name}: {overrides[name]}" for name in fails)
        + "}\n"
    )
    monkeypatch.setattr(work, "_backtest", failing)
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = runner.invoke(cli, ["backtest", "sweep", str(path), "--json"])

    assert result.exit_code == code, result.output
    assert f"{len(fails)} of {len(fails)} runs failed" in result.stderr
    assert f"; {said}; " in " ".join(result.stderr.split()), result.stderr
    document = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    codes = {"usage": 2, "temporary": 75, "operational": 1}
    assert {r["label"].split()[0]: (r["exit_code"], r["permanent"]) for r in document["runs"]} == {
        f"overrides={name}": (codes[kind], kind != "temporary") for name, kind in fails.items()
    }  # a temporary failure alone is to be retried as it stands


def test_a_sweep_of_no_retries_does_not_say_its_runs_failed_after_their_retries(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`retries: 0` and a worker lost: '2 of 3 runs failed after their retries', of runs tried once, none retried."""
    from llmtrade.errors import TemporaryError

    def lost(plan: Any, shared: Any) -> dict[str, Any]:
        raise TemporaryError("the database did not answer")

    path = tmp_path / "sweep.yaml"
    path.write_text(f"name: r{uuid.uuid4().hex[:8]}\nretries: 0\nranges: [{{from: 2026-01-07, to: 2026-01-07}}]\n")
    monkeypatch.setattr(work, "_backtest", lost)
    monkeypatch.setenv("DATABASE_URL", database_url)
    result = runner.invoke(cli, ["backtest", "sweep", str(path)])
    assert result.exit_code == 75, result.output
    said = " ".join(result.stderr.split())
    assert "after their retries" not in said
    assert "1 of 1 run failed, not retried (retries: 0)" in said


def test_a_replay_sweep_with_no_answer_cached_is_refused_before_any_run(tmp_path: Path) -> None:
    """`mode: replay` on books that never ran live: every run made its database, then stopped at its first model call
    ('ReplayMiss: --replay: no cached answer ... (--live-misses USD)', an option the sweep has not), and the sweep
    exited 1, 'an operational failure', once per run. Now refused with the file and its key before anything runs."""
    path = tmp_path / "sweep.yaml"
    path.write_text("name: r\nmode: replay\nranges: [{from: 2026-01-07, to: 2026-01-07}]\n")
    with pytest.raises(UsageError) as refused:
        prepare(Settings(), load_config(None), path, None, [])
    said = str(refused.value)
    assert said.startswith(f"sweep file {path}: key mode: replay replays the live books' cached answers")
    assert "mode: offline" in said
    assert "--live-misses" not in said


def test_the_report_of_a_sweep_with_no_finished_run_says_none_is_compared_and_why(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tester's `report --sweep` of a sweep whose only run failed said "0 runs (0 weeks in all), 0 accounts"."""
    name = f"f{uuid.uuid4().hex[:8]}"
    path = tmp_path / "sweep.yaml"
    path.write_text(
        f"name: {name}\nretries: 0\nranges: [{{from: 2026-01-07, to: 2026-01-07}}]\n"
        "overrides: {broken: {}, later: {risk.limits.max_position_pct: 0.05}}\n"
    )

    def broken(plan: Any, shared: Any) -> dict[str, Any]:
        if plan.axes["overrides"] == "broken":
            raise UsageError("a bad price file")
        raise KeyboardInterrupt  # the sweep stopped before its second run began

    monkeypatch.setattr(work, "_backtest", broken)
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert runner.invoke(cli, ["backtest", "sweep", str(path)]).exit_code == 130
    page = str(tmp_path / "r.html")
    result = runner.invoke(cli, ["report", "--sweep", name, "-o", page])
    assert result.exit_code == 0, result.output
    assert f"wrote {page} (" in result.stdout
    said = " ".join(result.stdout.split())
    assert said.endswith("no run compared: none of the sweep's runs has finished (1 failed, 1 not run)"), said
    document = json.loads(runner.invoke(cli, ["report", "--sweep", name, "-o", page, "--json"]).stdout)
    assert document["runs"] == 0 and document["uncompared"] == "1 failed, 1 not run"
