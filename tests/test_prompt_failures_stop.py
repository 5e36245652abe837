"""A prompt template that does not render stops the run (errors.PromptError is a RunStopped), exit 2 when it is the
user's override: never frozen as one member's failed review or checkpoint.

A user's trial: a peer_review or checkpoint override failing at render time made a backtest exit 0 with an empty
stderr, "degraded runs: 76" its only trace, every week's ReviewFailed / CheckpointSkipped ("owner failed to answer:
prompt template ...") frozen in the books, where they stayed after the template was fixed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from llmtrade.cli import app
from llmtrade.errors import LLMUnavailable, PromptError
from llmtrade.fanout import gather_settled
from tests.support import WEDNESDAY_8AM, stored_events
from tests.test_backtest_replay import _db, _rows

runner = CliRunner()
WEEK = "2026-01-07"
# The first week's 12:00 checkpoint asks its owners (the synthetic market of this range).
BACKTEST = ("2024-01-03", "2024-01-10")
# Both parse and pass `config validate` (the variable is given); the attribute is missing only when rendered.
REVIEW = ("peer_review.user.j2", "Review {{ label }}:\n{{ pitch.no_such_field }}\n")
CHECKPOINT = ("checkpoint.user.j2", "Position {{ instrument }}\n{{ values.no_such_indicator }}\n")


# The template's failure frozen as a member's: a review failed, an owner who "failed to answer" (a skip for a reason of
# its own, such as orders still queued at 09:00, is no failure).
_FROZEN = "SELECT count(*) FROM events WHERE type = %s AND coalesce(payload->>'reason', 'failed') LIKE '%%failed%%'"


def _override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, text: str) -> Path:
    folder = tmp_path / "prompts"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text)
    monkeypatch.setenv("LLMTRADE_PROMPTS_DIR", str(folder))
    return folder / name


def _error_line(result: Result) -> str:
    [line] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    return line


def test_a_prompt_error_ends_the_run_and_any_other_failure_is_one_members() -> None:
    async def failing(error: Exception) -> None:
        raise error

    with pytest.raises(PromptError):
        asyncio.run(gather_settled(["a", "b"], [failing(LLMUnavailable("down")), failing(PromptError("bad"))]))
    _, failed = asyncio.run(gather_settled(["a"], [failing(LLMUnavailable("down"))]))
    assert [key for key, _ in failed] == ["a"]  # a temporary failure is still one member's, retried by design
    assert PromptError("a packaged template: llmtrade's bug").exit_code == 1
    assert PromptError("the user's template: their configuration", override=True).exit_code == 2


@pytest.mark.parametrize(
    ("override", "step", "frozen"),
    [(REVIEW, "weekly run", "ReviewFailed"), (CHECKPOINT, "checkpoint", "CheckpointSkipped")],
)
def test_a_backtest_stops_on_an_override_that_does_not_render_and_freezes_nothing_of_it(
    override: tuple[str, str],
    step: str,
    frozen: str,
    tmp_path: Path,
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name, text = override
    _override(tmp_path, monkeypatch, name, text)
    # A name of its own: a backtest's books outlive the test's database (the server is the session's).
    args = ["backtest", "--offline", "--from", BACKTEST[0], "--to", BACKTEST[1], "--name", f"prompt_stop_{frozen}"]

    result = runner.invoke(app, ["-q", *args])

    assert result.exit_code == 2, result.output
    line = _error_line(result)
    assert f"prompt template {tmp_path / 'prompts' / name}, line 2: " in line  # the file to fix, and where
    assert f"backtest 'prompt_stop_{frozen}' stopped in week {BACKTEST[0]}, at its" in line and step in line
    assert "fix the prompt template named and run the same command to go on from this week" in line
    assert "Traceback" not in result.output
    books = _db(cli_env["DATABASE_URL"], f"prompt_stop_{frozen}")
    assert _rows(books, _FROZEN, frozen) == [(0,)]

    (tmp_path / "prompts" / name).unlink()  # fixed: the same command goes on
    resumed = runner.invoke(app, args)
    assert resumed.exit_code == 0, resumed.output
    assert _rows(books, _FROZEN, frozen) == [(0,)]


def test_a_live_weekly_run_and_checkpoint_stop_on_an_override_that_does_not_render(
    tmp_path: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = cli_env["DATABASE_URL"]
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    review = _override(tmp_path, monkeypatch, *REVIEW)

    result = runner.invoke(app, ["-q", "run-due"])

    assert result.exit_code == 2, result.output
    assert f"stage 'peer_review' failed: prompt template {review}, line 2: " in _error_line(result)
    assert not stored_events(url, type="ReviewFailed")

    review.unlink()
    assert runner.invoke(app, ["-q", "run-due"]).exit_code == 0
    checkpoint = _override(tmp_path, monkeypatch, *CHECKPOINT)
    monkeypatch.setenv("LLMTRADE_NOW", f"{WEEK}T12:05:00-05:00")

    result = runner.invoke(app, ["-q", "run-due"])

    assert result.exit_code == 2, result.output
    assert f"stage 'ask' failed: prompt template {checkpoint}, line 2: " in _error_line(result)
    assert not stored_events(url, type="CheckpointSkipped") and not stored_events(url, type="CheckpointTaken")


def test_an_override_failing_as_a_run_renders_it_is_named_with_its_file_and_line(
    tmp_path: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A user's trial: "stage 'pitches' failed: unsupported operand type(s) for +: 'datetime.date' and 'int'", exit 1,
    with no template, file or line."""
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    pitch = _override(tmp_path, monkeypatch, "pm_pitch.user.j2", "Week\n{{ week_id + 7 }}\n")

    result = runner.invoke(app, ["-q", "run-weekly", "--dry-run", "--offline"])

    assert result.exit_code == 2, result.output
    assert _error_line(result) == (
        f"error: stage 'pitches' failed: prompt template {pitch}, line 2: TypeError: unsupported operand type(s) "
        "for +: 'datetime.date' and 'int'"
    )
