"""Settings from the environment and `.env`, and the one clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.cli import app
from llmtrade.clock import FixedClock, SystemClock, make_clock
from llmtrade.errors import UsageError
from llmtrade.paths import default_home
from llmtrade.settings import load_settings

runner = CliRunner()


def test_home_defaults_to_the_user_data_directory_not_to_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMTRADE_HOME")
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", "/somewhere/me")
    settings = load_settings()
    assert settings.home == Path("/somewhere/me/.local/share/llmtrade") == default_home()
    assert settings.pgdata == settings.home / "pgdata"


def test_settings_come_from_the_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    Path(".env").write_text("DATABASE_URL=postgresql://u@h/db\nLLMTRADE_NOW=2026-01-07T08:00:00-05:00\n")
    monkeypatch.setenv("LLMTRADE_CONFIG_DIR", str(tmp_path / "cfg"))
    settings = load_settings()
    assert settings.database_url == "postgresql://u@h/db"
    assert settings.config_dir == tmp_path / "cfg"
    assert settings.now == datetime(2026, 1, 7, 13, 0, tzinfo=UTC)


def test_a_naive_llmtrade_now_is_refused_with_the_variable_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-07T08:00:00")
    with pytest.raises(UsageError, match=r"LLMTRADE_NOW='2026-01-07T08:00:00': .*needs a UTC offset"):
        load_settings()


@pytest.mark.parametrize(("value", "why"), [("tomorrow", "input is too short"), ("2026-13-01", "month value")])
def test_an_unreadable_llmtrade_now_says_the_form_it_takes(
    monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    """pydantic's words ("Input should be a valid datetime or date") named no form to give (fixB's report)."""
    monkeypatch.setenv("LLMTRADE_NOW", value)
    with pytest.raises(UsageError) as refused:
        load_settings()
    said = str(refused.value)
    assert f"LLMTRADE_NOW={value!r}: not a date and time ({why}" in said
    assert "ISO 8601 with a UTC offset, e.g. 2026-01-07T08:00:00-05:00" in said and "Input should" not in said


@pytest.mark.parametrize("variable", ["LLMTRADE_LLM_BASE_URL", "LLMTRADE_ALPACA_DATA_URL", "LLMTRADE_ALPACA_URL"])
@pytest.mark.parametrize("url", ["not-a-url", "ftp://models.example/v1", "http://", "localhost:11434/v1"])
def test_a_malformed_service_url_is_refused_with_the_variable_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, url: str
) -> None:
    """A trial: LLMTRADE_LLM_BASE_URL=not-a-url failed every request alike (httpx: no protocol), read as an outage:
    retried, then waited out (exit 75) until the deadline, where the week would go on without its models."""
    monkeypatch.setenv(variable, url)
    with pytest.raises(UsageError) as refused:
        load_settings()
    assert str(refused.value) == (
        f"bad environment setting: {variable}={url!r}: must be an http:// or https:// URL with a host, "
        "e.g. http://127.0.0.1:8080/v1"
    )
    monkeypatch.setenv(variable, "http://127.0.0.1:8080/v1")
    assert load_settings() is not None


def test_the_clock_is_fixed_by_llmtrade_now_and_real_otherwise() -> None:
    fixed = datetime(2026, 1, 7, 13, 0, tzinfo=UTC)
    assert make_clock(fixed).now() == fixed
    assert isinstance(make_clock(fixed), FixedClock)
    assert isinstance(make_clock(None), SystemClock)
    assert make_clock(None).now().tzinfo is not None


def test_the_env_template_copied_to_dotenv_as_the_readme_says_loads_with_everything_unset() -> None:
    template = Path(__file__).resolve().parents[1] / ".env.template"
    Path(".env").write_text(template.read_text())

    settings = load_settings()

    assert settings.now is None and settings.database_url is None


def test_a_dotenv_that_is_not_utf8_or_is_a_folder_exits_2_naming_it(tmp_path: Path) -> None:
    # The conftest runs each test in an empty working directory, where `.env` is looked for.
    Path(".env").write_bytes(b"OPENROUTER_API_KEY=sk\nLLMTRADE_NOW=caf\xe9\n")
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 2, result.output
    assert f"{Path('.env').resolve()}, line 2, column 17: byte 0xE9 is not UTF-8" in result.output
    assert "Traceback" not in result.output
    Path(".env").unlink()
    Path(".env").mkdir()
    result = runner.invoke(app, ["config", "validate"])
    assert result.exit_code == 2 and ".env is a folder" in result.output, result.output


def test_a_dotenv_with_a_byte_order_mark_is_read() -> None:
    Path(".env").write_bytes(b"\xef\xbb\xbfLLMTRADE_NOW=2026-01-07T08:00:00-05:00\n")
    assert load_settings().now == datetime.fromisoformat("2026-01-07T08:00:00-05:00")


def test_a_service_url_with_a_port_that_is_no_number_is_refused_and_a_blank_one_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A review: `http://host:abc/v1` passed (urlsplit checks a port only when asked), and a blank LLMTRADE_ALPACA_URL
    was refused while the same blank for the other two counted as unset."""
    monkeypatch.setenv("LLMTRADE_ALPACA_URL", "http://127.0.0.1:abc/v2")
    with pytest.raises(UsageError, match=r"LLMTRADE_ALPACA_URL='http://127.0.0.1:abc/v2': has a port that is not a"):
        load_settings()
    monkeypatch.setenv("LLMTRADE_ALPACA_URL", "   ")
    assert load_settings().alpaca_url is None


@pytest.mark.parametrize("value", ["-5", "five", "inf", "1e13"])
def test_a_clock_skew_out_of_range_is_said_in_minutes_not_pydantics_words(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    """A trial: LLMTRADE_CLOCK_SKEW_MINUTES=-5 was refused with "Input should be greater than or equal to 0", and
    `five` with "Input should be a valid number, unable to parse string as a number": pydantic's words, not the
    setting's range."""
    monkeypatch.setenv("LLMTRADE_CLOCK_SKEW_MINUTES", value)
    with pytest.raises(UsageError) as refused:
        load_settings()
    assert str(refused.value) == (
        f"bad environment setting: LLMTRADE_CLOCK_SKEW_MINUTES={value!r}: must be a number of minutes from 0 to "
        "525600 (a year); 0 turns the check off"
    )
