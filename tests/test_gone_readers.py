"""A reader that stops reading (`llmtrade run-weekly 2>&1 | head -2`, `llmtrade status | head -1`) stops nothing: the
command runs to its end and exits with its own code (llmtrade/readers.py). Before, the weekly run died at its first
progress line after the reader left (RunFailed "[Errno 32] Broken pipe", exit 1) and a finished command exited 1."""

from __future__ import annotations

import os
import subprocess
import sys

import psycopg
import pytest

from llmtrade.readers import ReaderTolerant


def _llmtrade(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """The console script's entry point (as `python -m llmtrade`), its stdout and stderr one pipe, as `2>&1 | head`."""
    command = [sys.executable, "-m", "llmtrade", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _runs(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT type, stream FROM events WHERE type IN ('RunStarted', 'RunFinished', 'RunFailed') ORDER BY id"
        ).fetchall()
    return [(kind, stream) for kind, stream in rows]


def test_a_weekly_run_whose_reader_leaves_after_its_first_line_runs_to_its_end_and_exits_0(
    wednesday_week: str, cli_env: dict[str, str]
) -> None:
    process = _llmtrade({**cli_env, "LLMTRADE_NOW": os.environ["LLMTRADE_NOW"]}, "run-weekly")
    assert process.stdout is not None
    first = process.stdout.readline()  # the mode banner: the run's stages and its table are still to come
    process.stdout.close()  # `head -1` is done
    assert process.wait(timeout=120) == 0
    assert first.startswith("OFFLINE MODE")
    runs = _runs(wednesday_week)
    assert [kind for kind, _ in runs] == ["RunStarted", "RunFinished"], runs


@pytest.mark.parametrize(
    ("args", "code"),
    [(["schedule", "show", "--count", "200"], 0), (["events", "--week", "not-a-date"], 2)],
)
def test_a_command_whose_reader_left_before_it_wrote_keeps_its_own_exit_code(
    args: list[str], code: int, cli_env: dict[str, str]
) -> None:
    process = _llmtrade(cli_env, *args)
    assert process.stdout is not None
    process.stdout.close()  # gone before the first line
    assert process.wait(timeout=120) == code


def test_a_stream_whose_reader_left_drops_what_is_written_and_its_descriptor_leads_nowhere() -> None:
    read, write = os.pipe()
    stream = ReaderTolerant(os.fdopen(write, "w", buffering=1))
    stream.write("heard\n")
    assert os.read(read, 100) == b"heard\n"
    os.close(read)
    assert stream.write("into the void\n") == len("into the void\n")  # EPIPE, taken as the reader's leaving
    assert stream.gone
    stream.write("more\n")
    stream.flush()
    # The descriptor now leads to os.devnull: the stream's own close (at exit) flushes without BrokenPipeError.
    assert os.path.samestat(os.fstat(stream.fileno()), os.stat(os.devnull))
    stream.close()
