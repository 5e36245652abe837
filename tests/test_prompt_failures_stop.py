"""A prompt template that does not render stops the weekly run (errors.PromptError is a RunStopped), exit 2 when it is
the user's override: never frozen as one member's failed pitch or review. A checkpoint and a postmortem go on (stops
must still exit, the week must still close), each owner whose prompt failed stored as such and said.

A user's trial: a peer_review or checkpoint override failing at render time made a backtest exit 0 with an empty
stderr, "degraded runs: 76" its only trace, every week's ReviewFailed / CheckpointSkipped ("owner failed to answer:
prompt template ...") frozen in the books, where they stayed after the template was fixed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from llmtrade.cli import app
from llmtrade.errors import LLMUnavailable, PromptError
from llmtrade.fanout import gather_settled
from tests.support import WEDNESDAY_8AM, stored_events
from tests.test_backtest_replay import _db, _rows
from tests.test_week_lifecycle import week

__all__ = ["week"]  # the fixture: a scripted week whose SPY stop fires at 12:00

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


@pytest.mark.parametrize(("override", "step", "frozen"), [(REVIEW, "weekly run", "ReviewFailed")])
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


def test_a_live_weekly_run_stops_on_an_override_that_does_not_render_and_a_checkpoint_says_it(
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

    # A checkpoint is not stopped (a review: its accounts whose rule fired must still exit): each owner asked is not
    # judged, stored so and said, under -q too, naming the file and line to fix.
    assert result.exit_code == 0, result.output
    said = [line for line in result.stderr.splitlines() if " not judged: owner failed to answer: " in line]
    assert said and all(f"prompt template {checkpoint}, line 2: " in line for line in said), result.stderr
    skipped = [e for e in stored_events(url, type="CheckpointSkipped") if "owner failed" in e.payload["reason"]]
    assert len(skipped) == len(said) and all(f"prompt template {checkpoint}" in e.payload["reason"] for e in skipped)


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


def test_a_checkpoint_override_that_does_not_render_holds_back_no_stop_exit(
    week: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review of d43602c: with the checkpoint's template failing, the whole checkpoint stopped (exit 2, nothing
    stored), and the accounts whose invalidation rule had fired (SPY's stop, decided in code, no prompt) never exited:
    every wake-up until the fix, and past the deadline they were closed as not judged."""
    _, url, _ = week
    assert runner.invoke(app, ["run-weekly"]).exit_code == 0
    _override(tmp_path, monkeypatch, *CHECKPOINT)
    monkeypatch.setenv("LLMTRADE_NOW", f"{WEEK}T12:00:00-05:00")
    result = runner.invoke(app, ["checkpoint", "12:00", "--json"])
    assert result.exit_code == 0, result.output
    by_account = {a["account_id"]: a for a in json.loads(result.stdout)["accounts"]}
    for stopped in ("acct_1", "acct_5"):  # SPY's rule fired: exited, and the exit sent
        assert by_account[stopped]["checkpoint"]["decided_by"] == "invalidation_rule"
        assert [o["intent"] for o in by_account[stopped]["orders"]] == ["close"], by_account[stopped]
    for asked in ("acct_2", "acct_3", "acct_4"):
        assert by_account[asked]["skipped"].startswith("owner failed to answer: "), by_account[asked]
    failed = [e for e in stored_events(url, type="CheckpointSkipped") if "owner failed" in e.payload["reason"]]
    assert len(failed) == 3  # the FLAT account's own skip apart


def test_a_postmortem_override_that_does_not_render_closes_the_week_without_its_reflections_and_says_so(
    tmp_path: Path, cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A review of d43602c: a postmortem stopped by its template held the next weekly run back (it writes last
    week's postmortem first), and with it the week's trading. It closes the week now; each reflection not written is
    stored as missing and said, naming the file and line to fix."""
    url = cli_env["DATABASE_URL"]
    monkeypatch.setenv("LLMTRADE_NOW", WEDNESDAY_8AM)
    assert runner.invoke(app, ["-q", "run-weekly", "--offline"]).exit_code == 0
    reflection = _override(tmp_path, monkeypatch, "postmortem.user.j2", "{{ instrument }}\n{{ indicators.no_such }}\n")
    monkeypatch.setenv("LLMTRADE_NOW", "2026-01-13T16:45:00-05:00")
    result = runner.invoke(app, ["-q", "postmortem", "--week", WEEK, "--offline"])
    assert result.exit_code == 0, result.output
    # The override leaves out most of what the packaged one shows: said once first (prompts/drift.py), as a warning.
    [drift, *said] = result.stderr.splitlines()
    assert drift.startswith(f"prompt override {reflection} leaves out what the packaged"), drift
    assert said and all(
        line.startswith(f"postmortem {WEEK}: ") and f"reflection failed: prompt template {reflection}, line 2" in line
        for line in said
    ), said
    assert len(stored_events(url, type="PostmortemWritten")) == 6  # the week is closed, every account in it
    [end] = [
        e
        for e in stored_events(url, type="RunFinished")
        if e.run_id == stored_events(url, type="PostmortemWritten")[0].run_id
    ]
    assert end.payload["degraded"] is True
