"""Reading a user's text file (a config YAML, a prompt template) so that every way it can be unusable
becomes a ConfigError naming the file, the line where known, and what to do; never a traceback.
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path

from llmtrade.errors import ConfigError, ConfigProblem
from llmtrade.paths import utf8_error_at


def read_text(path: Path | Traversable, label: str, *, restore: str) -> str:
    """The file's text, decoded as UTF-8 (a byte-order mark, as Windows editors write, is dropped).

    `restore` says how to get a good copy back (e.g. "`llmtrade init DIR` writes a complete set").
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(label, message=f"file is missing ({restore})") from None
    except IsADirectoryError:
        raise ConfigError(label, message="is a folder, not a file: move it aside and put the file there") from None
    except PermissionError:
        raise ConfigError(
            label, message="cannot be read (permission denied): give your user read access, e.g. chmod u+r"
        ) from None
    except OSError as exc:
        raise ConfigError(label, message=f"cannot be read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(label, [_not_utf8(exc)]) from None


def _not_utf8(exc: UnicodeDecodeError) -> ConfigProblem:
    line, column, byte = utf8_error_at(exc)
    return ConfigProblem(
        f"line {line}, column {column}",
        f"byte 0x{byte} is not UTF-8; save the file as UTF-8 "
        "(e.g. `iconv -f latin1 -t utf-8 FILE > FILE.new`, or your editor's 'save with encoding')",
    )
