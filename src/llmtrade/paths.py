"""Where llmtrade keeps its files, without importing anything heavy (the calendar needs it early)."""

from __future__ import annotations

import os
from pathlib import Path


def default_home() -> Path:
    """The user's data directory (XDG on Linux, the platform's usual place elsewhere)."""
    xdg = os.environ.get("XDG_DATA_HOME")
    if xdg:
        return Path(xdg) / "llmtrade"
    if os.name == "nt":
        return Path(os.environ.get("LOCALAPPDATA", Path.home())) / "llmtrade"
    return Path.home() / ".local" / "share" / "llmtrade"


def home() -> Path:
    """LLMTRADE_HOME when set, else the default."""
    return Path(os.environ.get("LLMTRADE_HOME") or default_home())


def utf8_error_at(exc: UnicodeDecodeError) -> tuple[int, int, str]:
    """Line, column (1-based, as an editor counts) and the hex of the byte a UTF-8 decode refused.

    exc.object is what the codec saw (after any byte-order mark with utf-8-sig)."""
    data, start = exc.object, exc.start
    before = data[:start]
    return before.count(b"\n") + 1, start - (before.rfind(b"\n") + 1) + 1, data[start : start + 1].hex().upper()


def not_a_folder(path: Path) -> str:
    """Why `path`, given as a folder of SYMBOL.csv price files, is not one (it is not a directory): a file is named as
    one, with its folder to give instead; anything else is no such folder."""
    if path.is_file():
        return f"is a file, not a folder: give the folder that holds the SYMBOL.csv files ({path.parent})"
    return "no such folder"
