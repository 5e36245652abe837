"""What a model or an operator wrote reaches the terminal as text, never as the terminal's commands: the leaderboard's
notes quote a failed run's error (which quotes the model's answer) and the kill switch's reason. A model answer holding
"\\x1b[2J" cleared the operator's screen when `leaderboard` printed the note, piped (`| cat`) or at a terminal; on a
terminal, rich read "[bold red]" or "[link=...]" in a table, a heading or a key/value line as its markup."""

from __future__ import annotations

import io
import json
import re
import sys

import pytest
from typer.testing import CliRunner

from llmtrade.app.container import Container
from llmtrade.cli import app
from llmtrade.console import Output
from llmtrade.domain.events import NewEvent
from llmtrade.domain.runs import RunFailed, RunStarted
from tests.test_report_weeks import TIMELINE, WEEK, recorded_week
from tests.test_report_weeks import recorded as recorded

__all__ = ["recorded_week"]  # the module-scoped fixture `recorded` starts from

runner = CliRunner()
# A model's answer as real ones come: an escape that clears the screen, one that sets a colour, an OSC 8 hyperlink,
# a carriage return that overwrites the line, a bell, a C1 CSI, and a right-to-left override reversing what follows.
ANSWER = (
    "Buy [bold red]NOW[/] \x1b[2J\x1b[31m red \x1b]8;;https://evil.test\x07link\x1b]8;;\x07 over\rwrite \x9b2J "
    "\u202eesrever"
)
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def test_a_failed_runs_error_quoting_a_model_reaches_the_leaderboard_as_text(recorded: Container) -> None:
    run_id = "hostile-run"
    with recorded.storage() as storage:
        storage.events.append(
            [
                NewEvent.of(
                    RunStarted(
                        command="checkpoint",
                        arguments={"week": str(WEEK), "time": "12:00"},
                        mode="live",
                        mode_reason="keys",
                        config_source="packaged",
                        version="1",
                    ),
                    stream=f"run:{run_id}",
                    week_id=WEEK,
                    run_id=run_id,
                ),
                NewEvent.of(
                    RunFailed(
                        command="checkpoint",
                        error_type="AnswerInvalid",
                        error=f"the model's answer is not the schema's: {ANSWER}",
                        duration_ms=3.0,
                    ),
                    stream=f"run:{run_id}",
                    week_id=WEEK,
                    run_id=run_id,
                ),
            ]
        )
    now = {"LLMTRADE_NOW": TIMELINE[-1]}
    disabled = runner.invoke(app, ["trading", "disable", "--reason", f"ops: {ANSWER}"], env=now)
    assert disabled.exit_code == 0, disabled.output
    assert not CONTROL.search(disabled.stdout)
    result = runner.invoke(app, ["leaderboard"], env=now)
    assert result.exit_code == 0, result.output
    assert "the model's answer is not the schema's" in result.stdout and "kill switch" in result.stdout
    assert not CONTROL.search(result.stdout), [line for line in result.stdout.splitlines() if CONTROL.search(line)]
    # Each shown as the escape it is, so the reader sees what the model wrote.
    assert "\\x1b[2J" in result.stdout and "\\r" in result.stdout and "\\u202e" in result.stdout
    # --json too: JSON escapes the C0 controls itself, not DEL, the C1 controls (U+009B is a CSI to xterm, which takes
    # C1 controls in UTF-8) or the bidirectional ones; each is written \\uXXXX, the document's value the same.
    document = runner.invoke(app, ["leaderboard", "--json"], env=now)
    assert document.exit_code == 0, document.output
    assert not CONTROL.search(document.stdout), [c for c in CONTROL.findall(document.stdout)]
    notes = json.loads(document.stdout)["notes"]
    assert any(ANSWER in note for note in notes) and any(f"ops: {ANSWER}" in note for note in notes)
    events = runner.invoke(app, ["events", "--json", "--type", "RunFailed"], env=now)
    assert events.exit_code == 0 and not CONTROL.search(events.stdout)
    assert ANSWER in json.loads(events.stdout.splitlines()[-1])["payload"]["error"]


def test_shown_escapes_controls_and_keeps_tabs_newlines_and_other_text() -> None:
    from llmtrade.console import shown  # the one place that makes text safe to print

    assert shown("a\tb\nc") == "a\tb\nc"
    assert shown("\x00\x07\x1b\r\x7f\x85\x9b") == "\\x00\\x07\\x1b\\r\\x7f\\x85\\x9b"
    assert shown("\u202eabc\u2066") == "\\u202eabc\\u2066"
    text = "📈 e\u0301 שלום [bold] {{ x }} \ufffd"
    assert shown(text) == text


@pytest.mark.parametrize("plain", [True, False], ids=["piped", "terminal"])
def test_no_output_path_lets_a_control_through(plain: bool) -> None:
    stream = io.StringIO()
    out = Output(stream=stream, force_plain=plain)
    out.heading(f"heading {ANSWER}")
    out.line(f"line {ANSWER}")
    out.warning(f"warning {ANSWER}")
    out.pairs([(f"key {ANSWER}", f"value {ANSWER}")])
    out.table(f"title {ANSWER}", [f"column {ANSWER}"], [[f"cell {ANSWER}"]])
    printed = stream.getvalue()
    assert not CONTROL.search(printed), printed


def test_rich_markup_in_text_prints_as_written_on_a_terminal() -> None:
    """A heading, a key/value line and a table's title, columns and cells on a terminal (rich): "[bold red]" was
    read as a style and vanished, "[link=...]" made a hyperlink to wherever the model said."""
    markup = "[bold red]NOW[/] [link=https://evil.test]x[/link]"
    stream = io.StringIO()
    out = Output(stream=stream, force_plain=False)
    out.console.width = 200  # no cell wrapped
    out.heading(markup)
    out.line(markup)
    out.pairs([(markup, markup)])
    out.table(markup, [markup], [[markup]])
    printed = stream.getvalue()
    assert printed.count(markup) == 7, printed


def test_an_error_quoting_a_model_reaches_stderr_as_text(capsys: pytest.CaptureFixture[str]) -> None:
    from llmtrade.console import print_error

    print_error(f"the answer was {ANSWER}")
    said = capsys.readouterr().err
    assert not CONTROL.search(said) and "\\x1b[2J" in said


def test_a_backtests_messages_above_its_progress_bar_reach_the_terminal_as_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a terminal a backtest prints its jobs' messages and warnings above its progress bar through rich's console,
    not Output: an error quoting the model reached the terminal as it was."""
    from llmtrade.commands.backtest import _progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    with _progress(quiet=False) as (_, say, warn):
        say(f"note {ANSWER}")
        warn(f"warning {ANSWER}")
    printed = terminal.getvalue()  # with rich's own cursor moves and CRs: the model's controls are what must not be
    assert "note Buy" in printed and "warning Buy" in printed
    assert not re.search("\x1b\\]|\x07|\x9b|\u202e", printed), repr(printed)
    assert printed.count("\\x1b[2J") == 2 and printed.count("\\u202eesrever") == 2
