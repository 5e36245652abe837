"""LLMTRADE_PUSHGATEWAY_URL is checked where the other settings are (at every command's start and by `config
validate`), not found out by the first push after a command's work: a malformed value (a scheme mistyped, a path where
the host goes, the push URL pasted whole) failed every push, one "metrics not pushed" warning per wake-up, with
`config validate` saying "configuration OK"."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.errors import UsageError
from llmtrade.settings import load_settings

runner = CliRunner()

FORM = (
    "write the Pushgateway's address, e.g. http://localhost:9091 (http:// or https://, a host, an optional port and "
    "path prefix; llmtrade adds /metrics/job/llmtrade)"
)


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("htp://localhost:9091", "has the scheme 'htp'"),
        ("ftp://localhost:9091", "has the scheme 'ftp'"),
        ("http:/localhost:9091", "has no '://' after its scheme"),
        ("http//localhost:9091", "has no host"),
        ("/metrics", "has no host"),
        ("http:///metrics", "has no host"),
        ("http://", "has no host"),
        ("http://localhost:90x1", "has a port that is not a number"),
        ("http://localhost:9091/metrics/job/llmtrade", "is a push URL, not the gateway's address"),
        ("http://localhost:9091/?job=x", "is a push URL, not the gateway's address"),
        ("http://me:secret@localhost:9091", "holds credentials, which the push cannot send"),
    ],
)
def test_a_malformed_pushgateway_url_is_refused_naming_the_variable_and_what_to_write(
    monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    monkeypatch.setenv("LLMTRADE_PUSHGATEWAY_URL", value)
    with pytest.raises(UsageError) as refused:
        load_settings()
    shown = value.replace(":secret@", ":***@")  # a password is never said
    assert str(refused.value) == f"bad environment setting: LLMTRADE_PUSHGATEWAY_URL={shown!r}: {why}: {FORM}"
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize(
    ("value", "used"),
    [
        ("http://localhost:9091", "http://localhost:9091"),
        ("https://push.example.com/gateway/", "https://push.example.com/gateway/"),
        (" http://127.0.0.1:9091 ", "http://127.0.0.1:9091"),
        # prometheus_client's documented form ("Scheme defaults to 'http' if none is provided"), as it takes it.
        ("localhost:9091", "http://localhost:9091"),
        ("pushgateway", "http://pushgateway"),
        ("[::1]:9091", "http://[::1]:9091"),
    ],
)
def test_a_pushgateway_address_prometheus_client_takes_is_accepted(
    monkeypatch: pytest.MonkeyPatch, value: str, used: str
) -> None:
    monkeypatch.setenv("LLMTRADE_PUSHGATEWAY_URL", value)
    assert load_settings().pushgateway_url == used


def test_config_validate_and_a_job_refuse_a_malformed_pushgateway_url_at_start(
    cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLMTRADE_PUSHGATEWAY_URL", "htp://localhost:9091")
    said = f"bad environment setting: LLMTRADE_PUSHGATEWAY_URL='htp://localhost:9091': has the scheme 'htp': {FORM}"
    for command in (["config", "validate"], ["-q", "run-due"]):
        result = runner.invoke(app, command)
        assert (result.exit_code, result.stdout) == (2, ""), result.output
        assert result.stderr.splitlines() == [f"error: {said}"], result.stderr
