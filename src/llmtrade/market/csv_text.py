"""A price file's bytes as text: UTF-8 with or without a byte-order mark, and UTF-16 or UTF-32 with one.

Excel's "Unicode text" (and PowerShell's `Out-File`, Notepad's "Unicode") write UTF-16 with a byte-order mark. The
mark says the encoding exactly, so such a file is read, not refused: refused, its first byte (0xFF) was reported as
"not UTF-8 (the file looks Latin-1...)", which named the wrong encoding, and a user who "fixed" that by converting
from Latin-1 got a file of NULs. Without a mark there is no telling UTF-16 from UTF-8 but by its NUL bytes, which no
price file holds: such a file is refused naming UTF-16/UTF-32, not Latin-1. Excel's "Unicode text" is also separated
by tabs, not commas (`delimiter`). yfinance's `download(...).to_csv()` writes a header row per column level (`levels`).
"""

from __future__ import annotations

from datetime import date
from itertools import pairwise

from llmtrade.domain.market import Bar
from llmtrade.text_bytes import marked

SAVE_AS = "save it as UTF-8 CSV (Excel: File > Save As > 'CSV UTF-8')"


class NotText(ValueError):
    """The bytes cannot be read as text of any encoding a price file may have: `line` is where, `reason` why."""

    def __init__(self, line: int, reason: str):
        self.line = line
        self.reason = reason
        super().__init__(f"line {line}: {reason}")


def decoded(raw: bytes) -> str:
    """`raw` as text: by its byte-order mark when it has one, else as UTF-8; NotText otherwise."""
    if (found := marked(raw)) is not None:
        codec, label = found
        try:
            return raw.decode(codec)
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].decode(codec, errors="replace").count("\n") + 1
            reason = (
                f"it begins with a {label} byte-order mark, but is not valid {label} at byte {exc.start}: {SAVE_AS}"
            )
            raise NotText(line, reason) from None
    if b"\x00" in raw:
        line = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
        reason = f"it holds NUL bytes, as UTF-16 or UTF-32 text without a byte-order mark does: {SAVE_AS}"
        raise NotText(line, reason)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Latin-1/Windows-1252 exports (a "é" in a header, a "€" in a note column) are the usual culprits here: a
        # UTF-16 or UTF-32 file has a byte-order mark or NULs, handled above.
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start : exc.start + 1].hex().upper()
        reason = f"byte 0x{byte} is not UTF-8 (the file looks Latin-1 or Windows-1252 encoded): {SAVE_AS}"
        raise NotText(line, reason) from None


def delimiter(header: str) -> str:
    """The header line's separator: a tab when it has tabs and no comma (Excel's "Unicode text"), else a comma."""
    return "\t" if "\t" in header and "," not in header else ","


def levels(rows: list[str]) -> tuple[list[str], list[str], int]:
    """The file's lines with yfinance's header rows made one, the tickers its Ticker row names and that row's line; the
    lines as they are, no ticker and line 0 for any other file. `yfinance.download(...).to_csv()` writes its
    multi-level columns one row per level, each led by the level's name: since 0.2.51 'Price,Close,High,Low,Open,Volume'
    then 'Ticker,SPY,SPY,...'; with group_by='ticker' the other way round, 'Ticker,SPY,...' then
    'Price,Open,High,Low,Close,Volume' (it swaps the levels back only for group_by='column'). The index's name follows
    on a row of its own, 'Date,,,,,', absent where the index lost its name (yfinance 1.4.0). The header rows after the
    first are left blank (the reader skips blank lines; `blank_lines` judges the file's own lines, before this), so
    every line keeps its number in a refusal."""
    if len(rows) < 2:
        return rows, [], 0
    sep = delimiter(rows[0])
    first, second, third = ([f.strip() for f in row.rstrip("\r\n").split(sep)] for row in [*rows[:3], ""][:3])
    heads = (first[0].lower(), second[0].lower())
    if heads not in (("price", "ticker"), ("ticker", "price")):
        return rows, [], 0
    price, ticker, line = (first, second, 2) if heads[0] == "price" else (second, first, 1)
    named = 1 if third[0].lower() == "date" and not any(third[1:]) else 0  # the index's name row
    header = sep.join(["Date", *price[1:]]) + "\n"
    return [header, *["\n"] * (1 + named), *rows[2 + named :]], ticker[1:], line


def separated(header: str) -> str:
    """What to add when a header lacks the columns because its fields are separated by semicolons (Excel's CSV in a
    locale with decimal commas, read as one column): "" for any other header."""
    if ";" not in header or "," in header or "\t" in header:
        return ""
    return (
        ": its fields are separated by ';' (Excel's CSV in a locale with decimal commas): save it with ',' between "
        "fields and '.' in numbers"
    )


def field_count(row: dict[str | None, object], columns: list[str]) -> int:
    """How many fields the row had: DictReader keeps those past the header's under the key None, and gives None for
    each of the header's columns the row lacks. Fields past the header's that are all empty are not counted: a
    separator at the end of each row (an export's habit: pandas documents index_col=False for it) leaves one, and it
    shifts no figure out of the header's columns, so the row is read; one holding anything (a stray value, half of an
    unquoted 1,234.50) is counted, and the row refused."""
    extra = row.get(None)
    past = extra if isinstance(extra, list) and any(str(e).strip() for e in extra) else []
    return len(columns) + len(past) - sum(v is None for v in row.values())


def newest_first(bars: list[Bar], rest: list[dict[str | None, str | None]]) -> str:
    """ ", and every row runs newest first ...": what to add when the file is wholly in reverse (a vendor's order, not a
    mix-up), read from the rows left; "" otherwise. The file is refused either way: its order is the user's to fix."""
    if len(bars) != 2:
        return ""
    days = [bars[0].day, bars[1].day]
    for row in rest:
        date_column = next((c for c in row if c is not None and c.strip().lower() in ("date", "timestamp")), None)
        try:
            days.append(date.fromisoformat((row.get(date_column or "") or "").strip()[:10]))
        except ValueError:
            return ""
    if all(a > b for a, b in pairwise(days)):
        return " (every row runs newest first, as Alpha Vantage and Investing.com export them)"
    return ""


def ticker_key(ticker: str) -> str:
    """A ticker as vendors spell it alike: case, spaces and the class separator aside (BRK.B, brk-b, BRK/B)."""
    return ticker.strip().upper().replace(".", "-").replace("/", "-")


BLANK = "blank line among the rows"


def blank_lines(lines: list[str], sep: str) -> tuple[set[int], list[int]]:
    """Each blank line of a file's `lines` (1-based: empty, spaces, or separators and quotes alone, as Excel writes a
    cleared row), and those of them before its last row, which a reader refuses (`blank_reason`): a row deleted by
    hand, two files joined, or line ends written twice (\\r\\r\\n) leave them, so the file is not what its exporter
    wrote. Those after the last row are passed over on purpose: editors and exporters end files so (an empty last line,
    Excel's cleared rows), nothing follows them, and no row is lost."""
    blank = {n for n, text in enumerate(lines, 1) if not text.replace(sep, "").replace('"', "").strip()}
    last = next((n for n in range(len(lines), 0, -1) if n not in blank), 0)
    return blank, sorted(n for n in blank if n < last)


def blank_reason(line: int, header: str) -> str:
    """Why blank line `line` (before the file's last row: `blank_lines`) is refused."""
    if line == 1:
        return f"a blank first line: the file must begin with its header row ({header}): take blank lines before it out"
    return (
        f"{BLANK}: a row deleted by hand, two files joined, or line ends written twice (\\r\\r\\n: Python's "
        "csv.writer on Windows without newline='') leave such lines; take them out (blank lines after the last row "
        "are passed over)"
    )
