"""The `.prom` textfile survives a power loss: node_exporter's textfile collector docs say to write it to a temporary
file in the same folder and rename it over the old one; without an fsync of the file before the rename (and of the
folder after it) a crash can leave the new name pointing at an empty or partial file, which node_exporter then reads
(or reports as a parse error) until the next command writes it again."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

import pytest

from llmtrade.observe.exposition import Family, write_textfile


def _families() -> list[Family]:
    family = Family("llmtrade_runs", "counter", "Runs ended.", ("job", "status"))
    family.add(["run-due", "ok"], 3)
    return [family]


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "textfile"
    folder.mkdir()
    return folder


def _traced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every fsync and rename `write_textfile` makes, in order: ("fsync", what the descriptor is), ("replace", to)."""
    seen: list[tuple[str, str]] = []
    fsync, replace = os.fsync, os.replace

    def fsync_traced(fd: int) -> None:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            seen.append(("fsync", "folder"))
        else:
            seen.append(("fsync", f"file of {os.fstat(fd).st_size} bytes"))
        fsync(fd)

    def replace_traced(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        seen.append(("replace", f"{Path(src).parent == Path(dst).parent} {Path(dst).name}"))
        replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync_traced)
    monkeypatch.setattr(os, "replace", replace_traced)
    return seen


def test_the_textfile_is_synced_before_its_rename_and_its_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _folder(tmp_path) / "llmtrade.prom"
    seen = _traced(monkeypatch)
    write_textfile(_families(), path)
    size = path.stat().st_size
    assert size > 0
    # The new bytes reach the disk before the name points at them, and the rename itself after it.
    assert seen == [("fsync", f"file of {size} bytes"), ("replace", "True llmtrade.prom"), ("fsync", "folder")]
    assert sorted(p.name for p in path.parent.iterdir()) == ["llmtrade.prom"]


def test_a_textfile_that_cannot_be_synced_leaves_the_old_one_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _folder(tmp_path) / "llmtrade.prom"
    path.write_text("# the last good file\n")

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing)
    with pytest.raises(OSError, match="Input/output error"):
        write_textfile(_families(), path)
    assert path.read_text() == "# the last good file\n"
    assert sorted(p.name for p in path.parent.iterdir()) == ["llmtrade.prom"]  # no temporary file left behind


def test_a_folder_whose_file_system_cannot_sync_a_folder_still_gets_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Some file systems refuse fsync on a folder (EINVAL): the file is in place and synced, so it is no failure."""
    path = _folder(tmp_path) / "llmtrade.prom"
    fsync = os.fsync

    def folder_refused(fd: int) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, os.strerror(errno.EINVAL))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", folder_refused)
    write_textfile(_families(), path)
    assert "llmtrade_runs_total" in path.read_text()


def test_a_rewrite_keeps_the_mode_the_textfile_was_given(tmp_path: Path) -> None:
    # A cron trial under umask 077 (a hardened cron's, or systemd's UMask=0077): the file came out 0600, which
    # node_exporter, running as its own user, cannot read; `chmod 644` by hand was undone by the next wake-up, the
    # rename putting a new 0600 file in its place. A new file still follows the umask, as any file the command makes.
    path = _folder(tmp_path) / "llmtrade.prom"
    before = os.umask(0o077)
    try:
        write_textfile(_families(), path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        path.chmod(0o644)
        write_textfile(_families(), path)
    finally:
        os.umask(before)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["llmtrade.prom"]
