"""A metrics push (or traces' export) failing at every cron wake-up is said once per outage under --quiet: a
Pushgateway down for a day had `run-due -q` print its warning every five minutes, a mail each from cron. Without
--quiet it is said every time; once the push works again, the next failure is said anew. Against a loopback
Pushgateway that answers 500, then 200."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.observe.repeats import FILE
from tests.test_observability import History, _Gateway, gateway, history  # noqa: F401 (fixtures, used by name)

runner = CliRunner()


def _said(gateway_url: str, *args: str) -> bool:
    result = runner.invoke(app, [*args, "status"])
    assert result.exit_code == 0, result.output
    return f"metrics not pushed to {gateway_url}" in result.stderr


def test_a_pushgateway_down_is_said_once_under_quiet_and_again_after_it_came_back(
    history: History,  # noqa: F811
    gateway: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", history.url)
    monkeypatch.setenv("LLMTRADE_PUSHGATEWAY_URL", gateway)
    _Gateway.status = 500
    assert _said(gateway, "-q")  # the outage's first wake-up: said
    assert not _said(gateway, "-q")  # the next ones: not again
    assert not _said(gateway, "-q")
    assert len(_Gateway.received) == 3  # each still tried
    assert _said(gateway)  # a person at a terminal is told every time
    _Gateway.status = 200
    assert not _said(gateway, "-q")
    assert json.loads((Path(os.environ["LLMTRADE_HOME"]) / FILE).read_text()) == {}
    _Gateway.status = 500
    assert _said(gateway, "-q")  # a new outage: said again


def test_a_memory_that_cannot_be_kept_says_the_failure_every_time(
    history: History,  # noqa: F811
    gateway: str,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", history.url)
    monkeypatch.setenv("LLMTRADE_PUSHGATEWAY_URL", gateway)
    (Path(os.environ["LLMTRADE_HOME"]) / FILE).mkdir(parents=True)  # where the file goes, a folder: not writable
    _Gateway.status = 500
    assert _said(gateway, "-q")
    assert _said(gateway, "-q")  # not remembered, so not kept quiet
