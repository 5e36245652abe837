"""One price file's problems as its reader finds them, row by row (market/csv_folder.py `read_csv`): what its refusal
lists, each kind a whole file gets wrong said once with the rows alike, and at most PER_FILE of them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from llmtrade.domain.wording import counted
from llmtrade.market.csv_text import BLANK, NotText, decoded
from llmtrade.market.validation import BarProblem, ProblemKind, SeriesRejected

# The problems one file's refusal lists; a file wrong on every row (a vendor's layout) is one fix, not 5,000 lines.
PER_FILE = 20

# Said once per file, with a count of the rows alike: one fix mends them all (a file in reverse order is out of order
# at every row; a file copied under another symbol's name, or a listing in another currency, is wrong at every row;
# a file saved with US dates, 01/05/2026, has an unparsable date on every row; a file stamped in another timezone has
# every row on the day before, Sundays included: market/csv_sessions.py).
_ONCE = frozenset(
    {
        ProblemKind.UNORDERED,
        ProblemKind.WRONG_SYMBOL,
        ProblemKind.WRONG_CURRENCY,
        ProblemKind.NOT_A_SESSION,
        ProblemKind.AHEAD,  # a template's future dates, or a year typed wrong, are one fix on every such row
    }
)
UNPARSABLE_DATE = "unparsable date"
# A close outside its day's low-high with the open inside it, said once too: on many rows it is one column to fix, a
# close adjusted for dividends or splits (Yahoo's Adj Close put in Close's place) beside unadjusted open, high and low.
CLOSE_OUTSIDE = "close outside its day's low-high"
# From this many rows alike, the refusal says what such a column most likely is; a row or two is a vendor's bad print.
ADJUSTED_FROM = 10


class FileProblems:
    """One file's problems as they are found, row by row."""

    def __init__(self, path: Path, symbol: str):
        self.path, self.symbol = path, symbol
        self.found: list[BarProblem] = []
        # A kind said once -> its place in found, and the lines of the rows alike after it: a file with two separate
        # order mistakes is two fixes, so each line is named, not only counted.
        self._alike: dict[str, tuple[int, list[int]]] = {}

    def add(self, *problems: BarProblem, line: int | None = None) -> None:
        for problem in problems:
            key = problem.kind if problem.kind in _ONCE else _alike_key(problem.reason)
            if key is not None:
                if key in self._alike:
                    self._alike[key][1].append(line or 0)
                    continue
                self._alike[key] = (len(self.found), [])
            self.found.append(problem)

    def refuse(self, line: int, day: date | None, kind: ProblemKind, reason: str) -> None:
        self.add(*rejected(self.path, line, self.symbol, day, kind, reason).problems, line=line)

    def said(self) -> list[BarProblem]:
        """The problems to refuse the file with: each said-once kind with its rows alike (their count and lines,
        `spans`), the first PER_FILE and one counting the rest (`stands_for` them)."""
        found = list(self.found)
        for place, lines in self._alike.values():
            if lines:
                alike = f"{counted(len(lines), 'more row')} alike: {spans(lines)}"
                reason = f"{found[place].reason} (and {alike})"
                if CLOSE_OUTSIDE in reason and len(lines) + 1 >= ADJUSTED_FROM:
                    reason += (
                        f"; on {len(lines) + 1} rows the close is off the day's open, high and low: most likely a "
                        "close adjusted for dividends or splits (Yahoo's Adj Close) beside unadjusted open, high and "
                        "low. "
                        "Give the unadjusted Close column (an Adj Close column beside it is never read), or every "
                        "price adjusted alike"
                    )
                found[place] = found[place].model_copy(update={"reason": reason})
        if len(found) <= PER_FILE:
            return found
        unlisted = len(found) - PER_FILE
        reason = f"{counted(unlisted, 'more problem')} on later lines, not listed"
        more = BarProblem(
            symbol=self.symbol,
            kind=ProblemKind.UNREADABLE,
            days=[],
            reason=reason,
            where=str(self.path),
            stands_for=unlisted,
        )
        return [*found[:PER_FILE], more]


def close_outside(day: date, values: dict[str, float]) -> str | None:
    """The reason for a row (`values`: Open, High, Low, Close) whose close is outside its day's low-high while its open
    is inside it, or None."""
    low, high, close = values["Low"], values["High"], values["Close"]
    if not low <= values["Open"] <= high or low <= close <= high:
        return None
    side = "below the day's low" if close < low else "above the day's high"
    return f"{day}: {CLOSE_OUTSIDE} ({side}): close {close}, low {low}, high {high}, open {values['Open']}"


def _alike_key(reason: str) -> str | None:
    """The said-once kind a row's problem of another kind belongs to, by its reason ("2024-01-02: close outside ..."
    after the day), or None: said row by row."""
    if reason.startswith(UNPARSABLE_DATE):
        return UNPARSABLE_DATE
    if reason.startswith(BLANK):  # line ends written twice leave one after every row: one fix
        return BLANK
    return CLOSE_OUTSIDE if reason.partition(": ")[2].startswith(CLOSE_OUTSIDE) else None


# The runs of lines a said-once problem names (a file with a few separate mistakes, not a vendor's layout, has few).
_SPANS_NAMED = 5


def spans(lines: list[int]) -> str:
    """`lines` (ascending) as runs: "line 18", "lines 3-29", "lines 18, 40-45", the first _SPANS_NAMED of them."""
    runs: list[list[int]] = []
    for n in lines:
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    named = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs[:_SPANS_NAMED])
    rest = f" and {counted(len(runs) - _SPANS_NAMED, 'more run')}" if len(runs) > _SPANS_NAMED else ""
    return f"line{'' if len(lines) == 1 else 's'} {named}{rest}"


def rejected(path: Path, line: int, symbol: str, day: date | None, kind: ProblemKind, reason: str) -> SeriesRejected:
    """A price file's own problem at `line`: the configured folder's to mend (SeriesRejected `files`, exit 2)."""
    return SeriesRejected(
        [BarProblem(symbol=symbol, kind=kind, days=[day] if day else [], reason=reason, where=f"{path}, line {line}")],
        files=True,
    )


def file_lines(path: Path, symbol: str, data: bytes | None = None) -> list[str]:
    """The file's lines (`data`, else read from `path`), decoded as UTF-8 (Excel's "CSV UTF-8" byte-order mark
    accepted), or as the UTF-16 or UTF-32 its byte-order mark says (market/csv_text.py)."""
    try:
        text = decoded(path.read_bytes() if data is None else data)
    except NotText as exc:
        raise rejected(path, exc.line, symbol, None, ProblemKind.UNREADABLE, exc.reason) from None
    return text.splitlines(keepends=True)
