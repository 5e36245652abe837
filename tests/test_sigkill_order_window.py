"""A weekly run killed by a real SIGKILL (the OOM killer, `timeout -s KILL`, a power cut) in the order window: the
paper broker has taken acct_1's order and the run has not recorded it. Nothing runs after the kill (no `finally`, no
RunFailed, no rollback said by us: PostgreSQL ends the connection's open transaction itself), unlike the simulated
deaths of tests/crash_points.py, which unwind through the code. The same command again asks the broker first: every
planned order is recorded once and at the broker once, and the week completes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter

from typer.testing import CliRunner

from llmtrade.cli import app
from tests.support import stored_events

runner = CliRunner()

# The console script's entry point, with the broker's send wrapped: once the broker has taken an order of the account
# named first, the process kills itself outright, before the run can record it.
_KILLED_IN_THE_ORDER_WINDOW = """
import os, signal, sys

from llmtrade.workflows import execution

ACCOUNT, sent = sys.argv[1], execution._send


def taken_then_killed(broker, order):
    result = sent(broker, order)
    if order.account_id == ACCOUNT:
        os.kill(os.getpid(), signal.SIGKILL)
    return result


execution._send = taken_then_killed
sys.argv = ["llmtrade", *sys.argv[2:]]
from llmtrade.entry import main

main()
"""


def test_a_weekly_run_killed_after_the_broker_took_an_order_records_it_once_on_the_rerun(
    wednesday_week: str, cli_env: dict[str, str]
) -> None:
    env = {**cli_env, "LLMTRADE_NOW": os.environ["LLMTRADE_NOW"]}
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_IN_THE_ORDER_WINDOW, "acct_1", "run-weekly"],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    [started] = stored_events(wednesday_week, type="RunStarted")
    assert not stored_events(wednesday_week, run_id=started.run_id, type=["RunFinished", "RunFailed"])
    taken = [e.payload["order"] for e in stored_events(wednesday_week, type="PaperOrderAccepted")]
    planned = [o for e in stored_events(wednesday_week, type="OrdersPlanned") for o in e.payload["orders"]]
    lost = [o for o in planned if o["account_id"] == "acct_1"]
    recorded = {e.payload["order"]["client_order_id"] for e in stored_events(wednesday_week, type="OrderSubmitted")}
    assert lost and not {o["client_order_id"] for o in lost} & recorded  # the window: taken, not recorded
    assert {o["client_order_id"] for o in lost} <= {o["client_order_id"] for o in taken}

    rerun = runner.invoke(app, ["run-weekly"])
    assert rerun.exit_code == 0, rerun.output
    assert len(stored_events(wednesday_week, type="WeekCompleted")) == 1

    def ids(kind: str) -> Counter[str]:
        return Counter(e.payload["order"]["client_order_id"] for e in stored_events(wednesday_week, type=kind))

    submitted, accepted = ids("OrderSubmitted"), ids("PaperOrderAccepted")
    planned_ids = {
        o["client_order_id"] for e in stored_events(wednesday_week, type="OrdersPlanned") for o in e.payload["orders"]
    }
    assert set(submitted) == set(accepted) == planned_ids
    assert set(submitted.values()) == {1} and set(accepted.values()) == {1}, (submitted, accepted)
