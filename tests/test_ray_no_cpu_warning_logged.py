"""The sweep's warning that the Ray cluster has no CPU (printed on stderr by sweep/ray_executor.py, below the console
layer) is kept in the log file too, as every warning said on stderr is (README: msg Warned, level warning, `text`).
A driver left waiting under cron on a head with no worker node said so nowhere a later look could find."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from llmtrade.domain.tracing import WARNED
from llmtrade.sweep.ray_executor import _NoCpu


class _RayWithNoCpu:
    def cluster_resources(self) -> dict[str, float]:
        return {"memory": 1.0}

    def get_runtime_context(self) -> Any:
        raise AttributeError("no runtime context")


def test_the_no_cpu_warning_is_logged_once(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture) -> None:
    waiting = _NoCpu(_RayWithNoCpu(), "127.0.0.1:6379")
    with caplog.at_level(logging.WARNING, logger="llmtrade"):
        assert waiting.waited_enough() is False
        assert waiting.waited_enough() is False
    said = capsys.readouterr().err
    assert said.count("has no CPU") == 1
    warned = [r for r in caplog.records if r.getMessage() == WARNED]
    assert len(warned) == 1, caplog.records
    [record] = warned
    assert record.levelno == logging.WARNING
    assert record.__dict__["fields"]["text"] == said.strip()
