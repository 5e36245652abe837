"""`llmtrade report -o -` writes the page to standard output, as Unix tools take `-`: it wrote a file named `-` in
the current folder (found by a new user: `llmtrade report -o - | gzip > page.html.gz` gave an empty archive and a
stray file). Its summary goes to stderr; a real file is still replaced atomically."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmtrade.app.container import Container
from llmtrade.cli import app
from tests.test_report_weeks import TIMELINE, recorded_week
from tests.test_report_weeks import recorded as recorded

__all__ = ["recorded_week"]  # the module-scoped fixture `recorded` starts from


def test_a_report_to_dash_goes_to_stdout_and_leaves_no_file(
    recorded: Container, cli_env: dict[str, str], tmp_path: Path
) -> None:
    env = {**cli_env, "LLMTRADE_NOW": TIMELINE[-1]}
    here = tmp_path / "here"
    here.mkdir()
    for extra in ([], ["--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "llmtrade", "report", "-o", "-", *extra],
            env=env,
            cwd=here,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(b"<!DOCTYPE html>") and done.stdout.endswith(b"</html>\n")
        assert list(here.iterdir()) == []  # no file named "-"
        said = done.stderr.decode()
        if extra:
            written = json.loads(said[said.index("{") :])
            assert written["path"] == "-" and written["bytes"] == len(done.stdout)
        else:
            assert f"wrote the page to standard output ({len(done.stdout):,} bytes)" in said, said
    # A file is written as before, whole, in the folder named (no standard output involved: in this process).
    page = here / "page.html"
    wrote = CliRunner().invoke(app, ["report", "-o", str(page)], env={"LLMTRADE_NOW": TIMELINE[-1]})
    assert wrote.exit_code == 0, wrote.output
    assert page.read_bytes().startswith(b"<!DOCTYPE html>") and page.read_bytes().endswith(b"</html>\n")
    assert wrote.stdout.startswith("wrote")


def test_a_report_to_stdout_whose_reader_stops_reading_exits_quietly(
    recorded: Container, cli_env: dict[str, str]
) -> None:
    """`report -o - | head -c 100`, the reader gone before the page is written: "error: cannot write the report to
    standard output: Broken pipe", exit 1 (a trial). As every command's output to a gone reader (readers.py): exit 0,
    nothing said, not "wrote the page" it did not deliver."""
    env = {**cli_env, "LLMTRADE_NOW": TIMELINE[-1]}
    for target, extra in [("-", []), ("-", ["--json"]), ("/dev/stdout", [])]:
        child = subprocess.Popen(
            [sys.executable, "-m", "llmtrade", "report", "-o", target, *extra],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None
        child.stdout.close()  # the reader gone before the first byte
        _, said = child.communicate(timeout=120)
        assert (child.returncode, said.decode()) == (0, ""), (target, extra)


def test_a_report_to_a_pipe_other_than_stdout_whose_reader_left_is_an_error(tmp_path: Path) -> None:
    """a0efc9d: a broken pipe writing `-o PATH` is the quiet "reader gone" only when PATH is stdout; to a FIFO (or
    `-o >(gzip > x)`) whose reader died the page was not delivered, and the command must not say it wrote it."""
    import os
    import threading

    from llmtrade.app.report import write_page
    from llmtrade.errors import LlmtradeError

    fifo = tmp_path / "page"
    os.mkfifo(fifo)

    def reader() -> None:
        with open(fifo, "rb") as stream:
            stream.read(10)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        with pytest.raises(LlmtradeError, match=r"cannot write the report to .*Broken pipe"):
            write_page(fifo, b"x" * 2_000_000)  # more than a pipe holds: the write meets the reader gone
    finally:
        thread.join()


def test_a_report_to_a_closed_stdout_is_refused_before_any_work(cli_env: dict[str, str]) -> None:
    """A new user's trial: `llmtrade report -o - >&-` (standard output closed, so Python's sys.stdout is None) ended in
    AttributeError's traceback, exit 1, after the whole page was built. There is nowhere to write it: said at once,
    as an output path that cannot be written is (exit 2)."""
    import os

    done = subprocess.run(
        [sys.executable, "-m", "llmtrade", "report", "-o", "-"],
        env=cli_env,
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.close(1),  # the child's own stdout, closed as `>&-` closes it
        timeout=120,
    )
    said = done.stderr.decode()
    assert done.returncode == 2, said
    assert "Traceback" not in said
    assert "error: report path -: standard output is closed, so the page has nowhere to go" in said, said
