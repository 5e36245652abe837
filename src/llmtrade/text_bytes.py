"""Which text encoding a user's file announces by its byte-order mark (a CSV of prices, a config YAML, a prompt).

Windows tools write UTF-16 with a mark (Notepad's "Unicode", Excel's "Unicode text", PowerShell 5's `>`): the mark
says the encoding exactly, so such a file is read, not called "not UTF-8" with advice to convert it from Latin-1,
which gives a file of NULs (a trial).
"""

from __future__ import annotations

import codecs

# UTF-32's marks first: UTF-32-LE's (FF FE 00 00) begins with UTF-16-LE's (FF FE). (mark, codec, name)
MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8-sig", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)


def marked(raw: bytes) -> tuple[str, str] | None:
    """(codec, name) of the encoding `raw`'s byte-order mark announces; None without one."""
    return next(((codec, name) for mark, codec, name in MARKS if raw.startswith(mark)), None)
