"""Issue 16 items 1 and 2 through the real CLI and the real PostgreSQL: the log's ids, the metrics file,
`llmtrade trace` and `llmtrade metrics`.

One history is built once for the module (two offline weeks, the second run failing on the kill switch):
each test reads what it left behind, so the suite pays for the runs once.
"""

from __future__ import annotations

import errno
import json
import os
import re
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import psycopg
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.domain.breaker import BreakerState, BreakerUpdated
from llmtrade.domain.events import LLMCallCompleted, LLMCallFailed, NewEvent
from llmtrade.domain.market import MarketProviderFailed
from llmtrade.domain.tracing import trace_id_of
from llmtrade.domain.trading import RiskAdjustment, RiskChecked, RiskVerdict
from llmtrade.observe.metrics import registry, write
from llmtrade.storage.bootstrap import Storage
from tests.support import stored_events

runner = CliRunner()
FIRST_WEEK = "2026-01-07T08:00:00-05:00"
SECOND_WEEK = "2026-01-14T08:00:00-05:00"


@dataclass(frozen=True)
class History:
    url: str
    home: Path
    ok_run: str
    failed_run: str
    ok_log: list[dict[str, Any]]  # the log's lines written by the first run-weekly
    failed_log: list[dict[str, Any]]
    prom_after_ok: str
    prom_after_failure: str
    failed_stderr: str


def _log_lines(home: Path) -> list[dict[str, Any]]:
    path = home / "logs" / "llmtrade.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _run_ids(url: str, command: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT run_id FROM events WHERE type = 'RunStarted' AND payload->>'command' = %s ORDER BY id", (command,)
        ).fetchall()
    return [row[0] for row in rows]


@pytest.fixture(scope="module")
def history(pg_admin_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[History]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, query = pg_admin_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    home = tmp_path_factory.mktemp("obs-home")
    work = tmp_path_factory.mktemp("obs-work")
    with pytest.MonkeyPatch.context() as env:
        for key in list(os.environ):
            if key.startswith(("LLMTRADE_", "ALPACA_", "OPENROUTER_", "OPENAI_")) or key == "DATABASE_URL":
                env.delenv(key)
        env.setenv("LLMTRADE_HOME", str(home))
        env.setenv("DATABASE_URL", url)
        env.chdir(work)
        env.setenv("LLMTRADE_NOW", FIRST_WEEK)
        ran = runner.invoke(app, ["run-weekly", "--offline", "--json"])
        assert ran.exit_code == 0, ran.output
        ok_log = _log_lines(home)
        prom_after_ok = (home / "metrics" / "llmtrade.prom").read_text()
        assert runner.invoke(app, ["trading", "disable", "--reason", "drill"]).exit_code == 0
        env.setenv("LLMTRADE_NOW", SECOND_WEEK)
        failed = runner.invoke(app, ["run-weekly", "--offline"])
        assert failed.exit_code == 75, failed.output
        before = len(_log_lines(home))
        prom_after_failure = (home / "metrics" / "llmtrade.prom").read_text()
    weekly = _run_ids(url, "run-weekly")
    all_lines = _log_lines(home)
    failed_run = weekly[-1]
    yield History(
        url=url,
        home=home,
        ok_run=weekly[0],
        failed_run=failed_run,
        ok_log=ok_log,
        failed_log=[line for line in all_lines[:before] if line.get("run_id") == failed_run],
        prom_after_ok=prom_after_ok,
        prom_after_failure=prom_after_failure,
        failed_stderr=failed.stderr,
    )


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# ---------------------------------------------------------------- logs


def test_every_log_line_of_a_run_carries_its_run_id_and_its_trace_id(history: History) -> None:
    assert len(history.ok_log) > 20  # the stages, the model calls, the orders: not a token line or two
    assert {line.get("run_id") for line in history.ok_log} == {history.ok_run}
    assert {line.get("trace_id") for line in history.ok_log} == {trace_id_of(history.ok_run)}
    assert all(line["week"] == "2026-01-07" for line in history.ok_log)


def test_log_lines_name_the_stage_and_the_account_they_were_written_in(history: History) -> None:
    calls = [line for line in history.ok_log if line["msg"] == "LLMCallCompleted"]
    assert {line["stage"] for line in calls} >= {"research", "pitches", "peer_review", "chairman"}
    # The orders are sent on one thread per account: each line keeps its own account.
    submitted = [line for line in history.ok_log if line["msg"] == "OrderSubmitted"]
    assert submitted and all(line["stage"] == "execution" for line in submitted)
    assert len({line["account"] for line in submitted}) == len(submitted)


def test_a_failed_run_is_logged_as_an_error_but_its_message_is_printed_once(history: History) -> None:
    failed = [line for line in history.failed_log if line["msg"] == "RunFailed"]
    assert len(failed) == 1
    assert failed[0]["level"] == "error" and "trading is disabled" in failed[0]["error"]
    assert failed[0]["trace_id"] == trace_id_of(history.failed_run)
    assert history.failed_stderr.count("trading is disabled") == 1


def test_log_json_writes_the_same_lines_to_stderr_and_the_default_writes_none(
    history: History, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", history.url)
    monkeypatch.setenv("LLMTRADE_NOW", SECOND_WEEK)
    quiet = runner.invoke(app, ["trading", "enable", "--reason", "drill over"])
    assert quiet.exit_code == 0, quiet.output
    assert "{" not in quiet.stderr
    loud = runner.invoke(app, ["--log-json", "trading", "disable", "--reason", "again"])
    assert loud.exit_code == 0, loud.output
    lines = [json.loads(line) for line in loud.stderr.splitlines() if line.startswith("{")]
    assert [line["msg"] for line in lines] == ["TradingDisabled"]
    assert lines[0]["logger"] == "llmtrade.events" and lines[0]["event_id"] > 0


# ---------------------------------------------------------------- metrics


def test_the_metrics_file_parses_and_its_values_match_the_event_store(history: History) -> None:
    samples = _samples(history.prom_after_failure)
    events = stored_events(history.url)
    # What the file says after the failed run is what the events said then: both weeks' events, minus
    # what the tests after the fixture added (none of these types).
    calls = [e for e in events if e.type == "LLMCallCompleted"]
    by_model = Counter((e.payload["model"], e.payload["source"]) for e in calls)
    for (model, source), n in by_model.items():
        assert samples[("llmtrade_model_calls_total", (("model", model), ("result", "ok"), ("source", source)))] == n
    for kind in ("OrderSubmitted", "OrderFilled"):
        metric = {"OrderSubmitted": "llmtrade_orders_submitted_total", "OrderFilled": "llmtrade_fills_total"}[kind]
        by_account = Counter(e.account_id for e in events if e.type == kind)
        assert by_account, kind
        for account, n in by_account.items():
            assert samples[(metric, (("account", account),))] == n
    latest: dict[str, float] = {}
    for e in events:
        if e.type == "AccountValued":
            latest[e.payload["account_id"]] = e.payload["equity"]
    assert {k[1][0][1]: v for k, v in samples.items() if k[0] == "llmtrade_equity_usd"} == latest
    clamps = Counter(a["rule"] for e in events if e.type == "RiskChecked" for a in e.payload["verdict"]["adjustments"])
    for rule, n in clamps.items():
        assert samples[("llmtrade_hard_limit_clamps_total", (("rule", rule),))] == n
    stages = {e.payload["stage"]: e.payload["duration_ms"] for e in events if e.type == "StageCompleted"}
    assert samples[("llmtrade_last_stage_duration_seconds", (("stage", "chairman"),))] == pytest.approx(
        stages["chairman"] / 1000
    )


def _call(model: str, source: str, prompt: int, completion: int, cost: float | None) -> LLMCallCompleted:
    return LLMCallCompleted(
        role="pm_pitch",
        provider="p",
        model=model,
        source=source,
        messages=[{"role": "user", "content": "x" * 5000}],  # a real call's record is large: the query detoasts it
        answer="{}",
        schema_name=None,
        outcome="ok",
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=cost,
        latency_ms=12.5,
        attempts=1,
        cache_key="k",
    )


def test_the_metrics_count_what_an_offline_week_does_not_do(storage: Storage, tmp_path: Path) -> None:
    """Cache hits, costs, failed calls, halts, provider fallbacks and clamps, from events written here."""
    halted = BreakerState(
        account_id="acct_2", halted=True, reason="drawdown", peak_equity=100.0, consecutive_losses=0,
        consecutive_wins=0,
    )  # fmt: skip
    verdict = RiskVerdict(
        account_id="acct_1", instrument="SPY", target_qty=10, approved=True, reason="", price=500.0,
        adjustments=[
            RiskAdjustment(rule="max_position_pct", detail="", before_qty=40, after_qty=10),
            RiskAdjustment(rule="whole_shares", detail="", before_qty=10, after_qty=10),
        ],
    )  # fmt: skip
    failed = LLMCallFailed(
        role="pm_pitch", provider="p", model="m/a", messages=[], error_type="LLMUnavailable", error="down",
        cache_key="k",
    )  # fmt: skip
    fallback = MarketProviderFailed(
        provider="alpaca", symbols=["SPY"], start=date(2026, 1, 1), end=date(2026, 1, 7), error_type="E", error="e"
    )
    payloads = [
        (_call("m/a", "live", 100, 20, 0.01), None),
        (_call("m/a", "cache", 100, 20, 0.0), None),
        (_call("m/b", "live", 7, 3, None), None),
        (failed, None),
        (BreakerUpdated(state=halted, trades_seen=0), "acct_2"),
        (BreakerUpdated(state=halted.model_copy(update={"halted": False}), trades_seen=0), "acct_2"),
        (BreakerUpdated(state=halted.model_copy(update={"account_id": "acct_3"}), trades_seen=0), "acct_3"),
        (RiskChecked(verdict=verdict), "acct_1"),
        (fallback, None),
        (fallback, None),
    ]
    storage.events.append(
        [NewEvent.of(p, stream=f"s{i}", run_id="r", account_id=a) for i, (p, a) in enumerate(payloads)]
    )
    path = write(registry(storage.conn), tmp_path / "prom")
    samples = _samples(path.read_text())
    assert samples[("llmtrade_model_calls_total", (("model", "m/a"), ("result", "ok"), ("source", "cache")))] == 1
    assert samples[("llmtrade_model_calls_total", (("model", "m/a"), ("result", "failed"), ("source", "live")))] == 1
    assert samples[("llmtrade_model_cache_hits_total", (("model", "m/a"),))] == 1
    assert samples[("llmtrade_model_tokens_total", (("kind", "prompt"), ("model", "m/a")))] == 200
    assert samples[("llmtrade_model_tokens_total", (("kind", "completion"), ("model", "m/b")))] == 3
    assert samples[("llmtrade_model_cost_usd_total", (("model", "m/a"),))] == pytest.approx(0.01)
    assert samples[("llmtrade_breaker_halted", (("account", "acct_2"),))] == 0  # the latest state counts
    assert samples[("llmtrade_breaker_halted", (("account", "acct_3"),))] == 1
    assert samples[("llmtrade_hard_limit_clamps_total", (("rule", "max_position_pct"),))] == 1
    assert samples[("llmtrade_hard_limit_clamps_total", (("rule", "whole_shares"),))] == 1
    assert samples[("llmtrade_market_data_fallbacks_total", (("provider", "alpaca"),))] == 2
    assert [p.name for p in path.parent.iterdir()] == ["llmtrade.prom"]  # the temporary file was renamed, not left


def test_a_failed_run_updates_the_status_metric_but_not_the_last_success_time(history: History) -> None:
    ok, failed = _samples(history.prom_after_ok), _samples(history.prom_after_failure)
    job = (("job", "run-weekly"),)
    assert ok[("llmtrade_last_run_status", (*job, ("status", "ok")))] == 1
    assert failed[("llmtrade_last_run_status", (*job, ("status", "ok")))] == 0
    assert failed[("llmtrade_last_run_status", (*job, ("status", "failed")))] == 1
    assert (
        failed[("llmtrade_last_success_timestamp_seconds", job)] == ok[("llmtrade_last_success_timestamp_seconds", job)]
    )
    assert failed[("llmtrade_last_run_timestamp_seconds", job)] > ok[("llmtrade_last_run_timestamp_seconds", job)]
    assert failed[("llmtrade_runs_total", (*job, ("status", "failed")))] == 1


def test_llmtrade_metrics_prints_what_the_file_holds(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", history.url)
    printed = runner.invoke(app, ["metrics"])
    assert printed.exit_code == 0, printed.output
    written = (Path(os.environ["LLMTRADE_HOME"]) / "metrics" / "llmtrade.prom").read_text()
    assert printed.stdout == written
    assert _samples(printed.stdout)[("llmtrade_last_run_status", (("job", "run-weekly"), ("status", "failed")))] == 1


def test_the_metrics_go_to_the_configured_folder(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = Path(os.environ["LLMTRADE_HOME"]).parent / "textfile"
    monkeypatch.setenv("DATABASE_URL", history.url)
    monkeypatch.setenv("LLMTRADE_METRICS_DIR", str(folder))
    assert runner.invoke(app, ["status"]).exit_code == 0
    assert "llmtrade_fills_total" in (folder / "llmtrade.prom").read_text()
    assert not (Path(os.environ["LLMTRADE_HOME"]) / "metrics").exists()


def test_a_command_that_never_opened_the_database_writes_no_metrics_and_starts_no_server() -> None:
    # `config show` builds the application container but never opens the database.
    assert runner.invoke(app, ["config", "show", "--json"]).exit_code == 0
    home = Path(os.environ["LLMTRADE_HOME"])
    assert not (home / "metrics").exists()
    assert not (home / "pgdata").exists()


def test_an_unwritable_metrics_folder_is_reported_and_leaves_the_exit_code(
    history: History, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("DATABASE_URL", history.url)
    monkeypatch.setenv("LLMTRADE_METRICS_DIR", str(blocked))
    # Status as of the books' last week: at today's date it would also warn of the closes since then.
    monkeypatch.setenv("LLMTRADE_NOW", SECOND_WEEK)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0
    assert result.stderr.count("metrics not written") == 1
    assert result.stderr.startswith("warning: metrics not written")  # not "error:": the exit code is 0
    # Said plainly, not "FileExistsError: [Errno 17] File exists: '...'" (a new-user trial).
    assert f"metrics not written to {blocked}: it is a file, not a folder" in result.stderr, result.stderr
    assert "Errno" not in result.stderr and "FileExistsError" not in result.stderr


@pytest.mark.parametrize(
    ("number", "said"),
    [
        (errno.EACCES, "permission denied"),
        (errno.ENOSPC, "no space left on its disk"),
        (errno.EROFS, "its file system is read-only"),
        (errno.ENOTDIR, "a folder above it is a file"),
    ],
)
def test_a_metrics_folder_that_cannot_be_written_is_said_plainly(number: int, said: str) -> None:
    from llmtrade.commands.metrics import unwritable

    assert unwritable(Path("/m"), OSError(number, os.strerror(number), "/m/x")) == f"metrics not written to /m: {said}"


# ---------------------------------------------------------------- trace


def test_trace_shows_the_run_as_a_timeline_from_the_database(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", history.url)
    shown = runner.invoke(app, ["trace", history.ok_run, "--json"])
    assert shown.exit_code == 0, shown.output
    run = json.loads(shown.stdout)
    events = [e for e in stored_events(history.url) if e.run_id == history.ok_run]
    calls = [e for e in events if e.type == "LLMCallCompleted"]
    assert run["trace_id"] == trace_id_of(history.ok_run)
    assert (run["command"], run["status"]) == ("run-weekly", "ok")
    # An offline run: every answer is the rules provider's, counted apart from model calls as its footer counts them
    # (trace said 'model calls: 19' under a footer of 'model calls: 0 (and 19 offline rules answers)').
    assert calls and all(e.payload["source"] == "rules" for e in calls)
    assert (run["model_calls"], run["rules_answers"]) == (0, len(calls))
    assert run["orders"] == sum(1 for e in events if e.type == "OrderSubmitted")
    assert [s["name"] for s in run["stages"]] == [e.payload["stage"] for e in events if e.type == "StageCompleted"]
    peer = next(s for s in run["stages"] if s["name"] == "peer_review")
    assert (peer["model_calls"], peer["rules_answers"]) == (
        0,
        sum(1 for e in calls if e.payload["role"] == "peer_review"),
    )
    assert not [e for e in run["entries"] if e["kind"] == "model_call"]
    # A stage's own line names it in the stage column, whichever stage runs beside it (a trial: remember_research's
    # said risk_prep, others nothing: the weekly run overlaps stages, and one open stage at a time was assumed).
    own = [(e["name"], e["stage"]) for e in run["entries"] if e["kind"] == "stage"]
    assert own and all(name == stage for name, stage in own), own
    answer = next(e for e in run["entries"] if e["kind"] == "rules_answer")
    assert answer["model"] and answer["duration_ms"] is not None and answer["source"] == "rules"
    text = runner.invoke(app, ["trace", history.ok_run]).stdout
    assert f"model calls: 0 (and {len(calls)} offline rules answers: no model, $0)" in text
    # The timeline's model column says whose answer it is: the rules', in place of the model (a trial read the rules'
    # answers under the models' names).
    line = next(row for row in text.splitlines() if "\trules_answer\t" in row)
    assert f"\trules, in place of {answer['model']}\t" in line


def test_trace_counts_a_models_answers_as_calls_and_the_rules_answers_apart(storage: Storage) -> None:
    from llmtrade.domain.events import StageCompleted, StageStarted
    from llmtrade.observe.timeline import trace_run

    run = "20260107T130000Z-abcdef"
    payloads = [
        StageStarted(stage="pitches"),
        _call("m/a", "live", 100, 20, 0.01),
        _call("m/a", "cache", 100, 20, 0.0),
        _call("m/b", "rules", 0, 0, 0.0),
        StageCompleted(stage="pitches", duration_ms=5.0),
    ]
    storage.events.append([NewEvent.of(p, stream=f"t:{i}", run_id=run) for i, p in enumerate(payloads)])
    found = trace_run(storage.events, run)
    assert (found.model_calls, found.rules_answers, found.prompt_tokens) == (2, 1, 200)
    [stage] = found.stages
    assert (stage.model_calls, stage.rules_answers, stage.cost_usd) == (2, 1, pytest.approx(0.01))
    kinds = [e.kind for e in found.entries if e.name == "LLMCallCompleted"]
    assert kinds == ["model_call", "model_call", "rules_answer"]


def test_trace_of_a_failed_run_names_the_failed_stage(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", history.url)
    shown = runner.invoke(app, ["trace", history.failed_run, "--json"])
    run = json.loads(shown.stdout)
    assert run["status"] == "failed"
    assert run["stages"][-1]["name"] == "execution" and run["stages"][-1]["outcome"] == "failed"
    assert any(e["name"] == "OrderBlocked" for e in run["entries"] if e["kind"] == "failure")
    text = runner.invoke(app, ["trace", history.failed_run])
    assert text.exit_code == 0 and "execution" in text.stdout and "failed" in text.stdout


def test_trace_of_an_unknown_run_exits_2_with_a_message(history: History, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", history.url)
    result = runner.invoke(app, ["trace", "20990101T000000Z-000000"])
    assert result.exit_code == 2
    assert "no run '20990101T000000Z-000000' on record" in result.stderr
    assert "Traceback" not in result.output
    # A run id with a character lost (copied short): the run near it is named, as `events --run` names them.
    short = runner.invoke(app, ["trace", history.ok_run[:-1]])
    assert short.exit_code == 2
    assert f"no run {history.ok_run[:-1]!r} on record; did you mean {history.ok_run}?" in short.stderr, short.stderr


# ---------------------------------------------------------------- Pushgateway


class _Gateway(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []
    status: ClassVar[int] = 200

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Gateway.received.append(("PUT", self.path, body))
        self.send_response(_Gateway.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    _Gateway.received, _Gateway.status = [], 200
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_metrics_are_pushed_only_when_a_pushgateway_is_configured(
    history: History, gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", history.url)
    assert runner.invoke(app, ["status"]).exit_code == 0
    assert _Gateway.received == []
    monkeypatch.setenv("LLMTRADE_PUSHGATEWAY_URL", gateway)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    [(method, path, body)] = _Gateway.received
    assert (method, path) == ("PUT", "/metrics/job/llmtrade")
    written = (Path(os.environ["LLMTRADE_HOME"]) / "metrics" / "llmtrade.prom").read_text()
    assert _samples(body.decode()) == _samples(written)


def test_a_pushgateway_that_refuses_is_reported_and_the_file_is_still_written(
    history: History, gateway: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _Gateway.status = 500
    monkeypatch.setenv("DATABASE_URL", history.url)
    monkeypatch.setenv("LLMTRADE_PUSHGATEWAY_URL", gateway)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0
    assert f"metrics not pushed to {gateway}" in result.stderr
    assert (Path(os.environ["LLMTRADE_HOME"]) / "metrics" / "llmtrade.prom").exists()


def test_the_example_alert_rules_parse_and_name_only_metrics_llmtrade_writes(history: History) -> None:
    rules = Path(__file__).resolve().parents[1] / "docs" / "alerts.rules.yml"
    loaded = yaml.safe_load(rules.read_text())
    exprs = [rule["expr"] for group in loaded["groups"] for rule in group["rules"]]
    assert len(exprs) >= 5
    named = {name for expr in exprs for name in re.findall(r"llmtrade_[a-z_]+", str(expr))}
    written = {family.name for family in text_string_to_metric_families(history.prom_after_failure)}
    # The parser names a counter without its _total suffix.
    assert named <= written | {f"{name}_total" for name in written}


def test_a_backtest_on_a_fresh_home_writes_no_metrics_error(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backtest writes only its own database; the live one (never migrated) has nothing to measure yet,
    which is no reason for an error line after a backtest that succeeded."""
    monkeypatch.setenv("DATABASE_URL", empty_database_url)
    result = runner.invoke(
        app, ["backtest", "--from", "2026-01-07", "--to", "2026-01-07", "--offline", "--name", "one"]
    )
    assert result.exit_code == 0, result.output
    assert "metrics not written" not in result.stderr
    home = Path(os.environ["LLMTRADE_HOME"])
    assert not (home / "metrics").exists()


def test_the_metrics_are_still_pushed_when_their_file_cannot_be_written(
    history: History, gateway: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A cron trial: LLMTRADE_METRICS_DIR unwritable and a Pushgateway set: the file's failure was said, and the push,
    # which needs no file, was skipped without a word.
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("DATABASE_URL", history.url)
    monkeypatch.setenv("LLMTRADE_METRICS_DIR", str(blocked))
    monkeypatch.setenv("LLMTRADE_PUSHGATEWAY_URL", gateway)
    monkeypatch.setenv("LLMTRADE_NOW", SECOND_WEEK)
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("metrics not written") == 1
    [(method, path, _body)] = _Gateway.received
    assert (method, path) == ("PUT", "/metrics/job/llmtrade")
