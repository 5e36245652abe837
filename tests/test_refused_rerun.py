"""run-weekly against the fake Alpaca (real alpaca-py client) when the broker refuses an order: the
refusal is recorded with the broker's reason, the run is degraded and says so, and a rerun of the
complete week retries the order (and only it) instead of answering "already complete"."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from llmtrade.cli import app
from tests.test_crash_points import (  # noqa: F401  (fixtures)
    ALPACA_ACCOUNT,
    OPENED,
    CountingAlpaca,
    Runs,
    alpaca,
    runs,
    world,
)

runner = CliRunner()


def test_a_refused_order_degrades_the_week_and_a_rerun_retries_it(runs: Runs, alpaca: CountingAlpaca) -> None:  # noqa: F811
    state = alpaca.snapshot()
    primed = runs.primed()  # a run of its own: its orders reached the fake broker, which is put back
    alpaca.restore(state)
    name = runs.fresh(primed)
    alpaca.server.fill_immediately = True
    alpaca.server.fail_route("POST", "/v2/orders", 422)  # the broker refuses the first order it is sent

    runs.monkeypatch.setenv("LLMTRADE_NOW", OPENED)
    first = runner.invoke(app, ["run-weekly", "--json"])
    assert first.exit_code == 0, first.output
    report = json.loads(first.stdout)
    refused = [e for _, t, e in runs.events(name) if t == "OrderRejected"]
    assert len(refused) == 1 and refused[0]["order"]["account_id"] == ALPACA_ACCOUNT
    assert any("refused by alpaca" in note for note in report["degraded"]), report["degraded"]
    (done,) = [e for _, t, e in runs.events(name) if t == "WeekCompleted"]
    assert done["degraded"] is True
    finished = [e for _, t, e in runs.events(name) if t == "RunFinished"]
    assert finished[-1]["degraded"] is True

    second = runner.invoke(app, ["run-weekly", "--json"])
    assert second.exit_code == 0, second.output
    assert "degraded" not in second.stdout or json.loads(second.stdout)["degraded"] == []
    cid = refused[0]["order"]["client_order_id"]
    submitted = [e for _, t, e in runs.events(name) if t == "OrderSubmitted" and e["order"]["client_order_id"] == cid]
    assert len(submitted) == 1 and submitted[0]["result"]["status"] == "filled"
    assert alpaca.server.count("POST", "/v2/orders") == len(alpaca.server.orders) + 1  # one refusal, then once each
    assert len([e for _, t, e in runs.events(name) if t == "WeekCompleted"]) == 1

    third = runner.invoke(app, ["run-weekly", "--json"])  # nothing left undone: the week is complete again
    assert third.exit_code == 0 and json.loads(third.stdout)["status"] == "complete"
