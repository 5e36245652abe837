"""Reading a user's text file (a config YAML, a prompt template) so that every way it can be unusable
becomes a ConfigError naming the file, the line where known, and what to do; never a traceback.
"""

from __future__ import annotations

from importlib.resources.abc import Traversable
from pathlib import Path

from llmtrade.config_errors import ConfigError, ConfigProblem
from llmtrade.paths import utf8_error_at
from llmtrade.text_bytes import marked


def read_text(path: Path | Traversable, label: str, *, restore: str) -> str:
    """The file's text, decoded as UTF-8, or as the byte-order mark Windows editors write says (UTF-8, UTF-16, UTF-32).

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
    found = marked(data)
    if found is not None and found[1] != "UTF-8":  # Windows' "Unicode" (UTF-16), or UTF-32: read as marked
        codec, name = found
        try:
            return data.decode(codec)
        except UnicodeDecodeError as exc:
            where = f"byte {exc.start}"
            raise ConfigError(
                label, [ConfigProblem(where, f"begins with a {name} byte-order mark but is not {name}; {_SAVE}")]
            ) from None
    if b"\x00" in data:  # valid UTF-8 (ASCII and NULs), which YAML then refused as "character 0 is not allowed"
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        reason = f"holds NUL bytes, as UTF-16 or UTF-32 text without a byte-order mark does; {_SAVE}"
        raise ConfigError(label, [ConfigProblem(f"line {line}", reason)])
    try:
        return data.decode("utf-8-sig")  # a UTF-8 mark dropped
    except UnicodeDecodeError as exc:
        raise ConfigError(label, [_not_utf8(exc)]) from None


_SAVE = (
    "save the file as UTF-8 (e.g. `iconv -f utf-16 -t utf-8 FILE > FILE.new`, or your editor's 'save with encoding')"
)


def _not_utf8(exc: UnicodeDecodeError) -> ConfigProblem:
    line, column, byte = utf8_error_at(exc)
    return ConfigProblem(
        f"line {line}, column {column}",
        f"byte 0x{byte} is not UTF-8; save the file as UTF-8 "
        "(e.g. `iconv -f latin1 -t utf-8 FILE > FILE.new`, or your editor's 'save with encoding')",
    )
