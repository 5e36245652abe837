"""A send that failed on the network says what kind of failure it was, never the URL behind it (alerts/send.py
`_warnings`). apprise's warning is "A Connection error occurred ..." for every kind: a cron trial's webhook that
answered too slowly read as one not reached. The kind is in apprise's DEBUG line after it ("Socket Exception: ..."),
whose text also names the URL's path, the secret of a Slack or Discord webhook."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from llmtrade.alerts.send import send

SECRET = "T000-B000-secret-token"


@pytest.fixture
def silent() -> Iterator[int]:
    """The port of a local server that takes each connection and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    taken: list[socket.socket] = []

    def take() -> None:
        while True:
            try:
                taken.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=take, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()
    for conn in taken:
        conn.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_service_that_never_answers_is_said_timed_out_not_unreached(silent: int) -> None:
    error = send(f"json://127.0.0.1:{silent}/{SECRET}?rto=0.5", "title", "body")  # apprise's read timeout: 0.5 s
    assert error is not None and "(no answer in its read timeout)" in error, error
    assert SECRET not in error


def test_a_port_nobody_listens_on_is_said_refused() -> None:
    error = send(f"json://127.0.0.1:{_free_port()}/{SECRET}", "title", "body")
    assert error is not None and "(connection refused)" in error and "timeout" not in error, error
    assert SECRET not in error
