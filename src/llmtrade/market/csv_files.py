"""A CSV price folder's files as a whole: what a backtest's data hash covers and a sweep ships (`price_files`), and
files whose names differ only in case (`case_twins`).

A symbol's prices are `SYMBOL.csv` spelt as the symbol (market/csv_folder.py), so a folder holding both `spy.csv` and
`SPY.csv` had one read and the other passed over without a word (a trial's fresh download saved under the other
spelling was never read); on a filesystem blind to case (macOS, Windows, a share) the same folder copied or shipped
keeps only one of them, whichever came last. Neither can be the right one to pick silently: the folder is refused,
naming both, as any price file of the folder's to mend (exit 2, failures.PriceFilesMisconfigured).
"""

from __future__ import annotations

import os
import stat
from functools import lru_cache
from pathlib import Path

from llmtrade.exits import path_error
from llmtrade.market.failures import PriceFilesMisconfigured

# A CSV folder's intraday files, `intraday/SYMBOL.csv` (market/csv_quotes.py).
INTRADAY_DIR = "intraday"


def intraday_file(folder: Path, symbol: str) -> Path:
    """Where `symbol`'s intraday file lives in a CSV folder (it may not exist)."""
    return folder / INTRADAY_DIR / f"{symbol}.csv"


def price_files(folder: Path, written: dict[str, int] | None = None) -> dict[str, bytes]:
    """Every SYMBOL.csv in `folder` that is a regular file (or a link to one), by name, with its bytes: what a
    backtest's price data hash covers and what a sweep ships to its workers.

    Anything else named *.csv (a folder `old.csv`, a link to nothing, a pipe) holds no prices and is passed over, not
    read (reading a pipe would wait for good); a symbol that needs it is refused by the provider, naming it. A regular
    file that cannot be read is refused (UsageError for a permission, exits.path_error): left out, the hash would
    change when it became readable, and the backtest would be refused as run on other prices. Files whose names
    differ only in case are refused (`case_twins`). `written`: given, each file's modification time (ns) put in it by
    name, as it was before its bytes were read (what a sweep's workers set on their copy: sweep/work.py)."""
    if twins := case_twins(folder):
        raise twins_refused(folder, twins)
    return _regular_files(folder, folder, "", written)


def intraday_files(folder: Path, written: dict[str, int] | None = None) -> dict[str, bytes]:
    """Every `intraday/SYMBOL.csv` of CSV folder `folder` that is a regular file (or a link to one), by its path in the
    folder (`intraday/SPY.csv`), with its bytes, read as `price_files` reads the daily ones: what a sweep ships to its
    workers beside them, since the backtest prices checkpoints from them (market/csv_quotes.py). Empty when the folder
    has no `intraday` folder. `written`: as `price_files`'."""
    inner = folder / INTRADAY_DIR
    if not inner.is_dir():
        return {}
    if twins := case_twins(inner):
        raise twins_refused(inner, twins)
    return _regular_files(folder, inner, f"{INTRADAY_DIR}/", written)


def _regular_files(folder: Path, inner: Path, prefix: str, written: dict[str, int] | None) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for path in sorted(inner.glob("*.csv")):
        try:
            found = path.stat()
            if not stat.S_ISREG(found.st_mode):  # links followed
                continue
            files[prefix + path.name] = path.read_bytes()
            if written is not None:
                # Taken before the read: a file written again meanwhile has newer bytes than this time says, so an
                # unfinished row of the older write is judged unfinished still, never an unfinished one final.
                written[prefix + path.name] = found.st_mtime_ns
        except FileNotFoundError:  # a link to nothing, or a file removed since it was listed
            continue
        except OSError as exc:
            fix = "every *.csv file in it makes the prices' hash: make it readable or move it out"
            raise path_error(f"prices folder {folder}: cannot read {prefix}{path.name}", exc, fix=fix) from exc
    return files


def file_version(found: os.stat_result) -> tuple[int, int, int, int]:
    """What tells one version of a file from another without reading it, for the parses kept by version (a backtest
    reads each file at every quote): its size, its modification time, and the time its inode last changed and the
    inode itself. The modification time alone can be set back (a zip unpacked over the file again, with the same
    stored times: `unzip`, `cp -p`, `rsync -t` keep them), where the change time is the system's, set at every write
    and utime, and a file replaced by a rename is another inode."""
    return (found.st_size, found.st_mtime_ns, found.st_ctime_ns, found.st_ino)


def case_twins(folder: Path, symbols: list[str] | None = None) -> list[tuple[str, ...]]:
    """The names of the regular files (links followed) `*.csv` in `folder` that are the same but for case, each group
    sorted (`("SPY.csv", "spy.csv")`); with `symbols`, only the groups one of them would be read from. Empty for a
    folder that cannot be listed (its reader says why)."""
    try:
        changed = folder.stat().st_mtime_ns
    except OSError:
        return []
    groups = _twins(folder, changed)
    if symbols is None:
        return list(groups)
    wanted = {f"{s}.csv".casefold() for s in symbols}
    return [g for g in groups if g[0].casefold() in wanted]


@lru_cache(maxsize=16)
def _twins(folder: Path, changed: int) -> tuple[tuple[str, ...], ...]:
    # Listed again only when the folder's entries changed (its mtime): a backtest's checkpoints read the folder's
    # daily files at every quote, and a listing per quote is a cost the answer, unchanged, does not need.
    by_name: dict[str, list[str]] = {}
    try:
        names = os.listdir(folder)
    except OSError:
        return ()
    for name in names:
        if name.casefold().endswith(".csv") and _regular(folder / name):
            by_name.setdefault(name.casefold(), []).append(name)
    return tuple(tuple(sorted(group)) for _, group in sorted(by_name.items()) if len(group) > 1)


def _regular(path: Path) -> bool:
    """Whether `path` is a regular file (links followed): a folder `old.csv` or a link to nothing holds no prices."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def spelt_otherwise(folder: Path, symbol: str) -> list[str]:
    """The files in `folder` named as `symbol`'s but for case (`spy.csv` for SPY), sorted: a message finding no
    SYMBOL.csv names them, since a symbol's file is read under its own spelling only."""
    wanted = f"{symbol}.csv"
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(n for n in names if n.casefold() == wanted.casefold() and n != wanted and _regular(folder / n))


def respelt(folder: Path, symbols: list[str]) -> str:
    """What to say of `symbols`' files found under another spelling (`spelt_otherwise`), "" when none is."""
    found = [(s, others) for s in symbols if (others := spelt_otherwise(folder, s))]
    return "".join(
        f"; {' and '.join(others)} {'is' if len(others) == 1 else 'are'} there, but {s}'s prices are read from "
        f"{s}.csv only, spelt as the symbol: rename it so"
        for s, others in found
    )


def twins_refused(folder: Path, twins: list[tuple[str, ...]], named_by: str = "") -> PriceFilesMisconfigured:
    """The refusal of a folder holding `twins` (`case_twins`), each group named whole, `named_by` where the folder
    was named (--csv, assets.yaml's key)."""
    where = f"csv folder {folder}" + (f" ({named_by})" if named_by else "")
    said = "; ".join(" and ".join(group) + " differ only in case" for group in twins)
    return PriceFilesMisconfigured(
        f"{where}: {said}: a symbol's prices are the file SYMBOL.csv spelt as the symbol, so one of them would be "
        "read and the other passed over (and a copy on a filesystem blind to case keeps only one); keep one of "
        "them, its rows merged, and move the other out of the folder"
    )
