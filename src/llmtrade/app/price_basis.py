"""What kind of closes the leaderboard valued the books at: which providers gave them, and whether dividends are in
them, said in a note and in `Leaderboard.prices`.

What each source gives (nothing is adjusted here: an adjustment llmtrade cannot verify would be a figure made up):
- alpaca: bars asked with `adjustment=split` (market/alpaca_data.py; the API's default is raw, and `dividend` or
  `all` would fold dividends in): split-adjusted, dividends not in them;
- yfinance: `auto_adjust=False`, whose Close is split-adjusted but not for dividends (Yahoo's Adj Close, not read,
  holds them);
- csv: the files' Close, as given: llmtrade cannot tell whether they are adjusted for dividends, unless the folder
  is a snapshot `backtest --fetch-history` wrote (its manifest.json names the provider that answered), or every file
  has an adjusted close column beside its Close (`adjusted_beside`: Yahoo's Adj Close, Alpha Vantage's
  adjusted_close, Tiingo's adjClose; no vendor puts one beside a Close already adjusted), whose Close, the column
  read, then leaves dividends out;
- synthetic: generated prices, which pay no dividend.

The paper broker credits no dividend and charges none, so on closes without them each ex-dividend day books the drop
in price as a loss for every long position in the symbol (SPY and EQUAL_WEIGHT always hold one) and as a gain for a
short one, whose holder would in truth pay the dividend to the share's lender; FLAT not at all.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from llmtrade.analytics.records import PriceBasis
from llmtrade.app.container import Container
from llmtrade.domain.backtests import BacktestStarted
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.market import Bar
from llmtrade.market.csv_text import NotText, decoded, delimiter
from llmtrade.market.providers import csv_dir

# The providers whose closes are known to leave dividends out, and how they are asked for them.
WITHOUT_DIVIDENDS = {
    "alpaca": "Alpaca's bars with adjustment=split",
    "yfinance": "Yahoo's Close with auto_adjust=False",
}
# A CSV folder's closes when every file has an adjusted close column beside the Close read (`adjusted_beside`).
BESIDE_ADJUSTED = "the files' Close column, beside an adjusted close column that is not read"
ADJUSTED_CLOSE = frozenset({"adjclose", "adjustedclose"})  # header names lowercased, letters and digits only
CSV = "csv"
SYNTHETIC = "synthetic"
MANIFEST = "manifest.json"  # app/backtest_history.py's snapshot manifest
# What an ex-date's drop does on closes without dividends: the paper broker neither credits a long the dividend nor
# charges a short it, so the bias runs one way for longs and the other for shorts.
_EX_DATE = (
    "as a loss for a long position (the accounts', SPY's and EQUAL_WEIGHT's) and as a gain for a short one, "
    "which would pay the dividend to the share's lender"
)


def snapshot_provider(folder: Path | None) -> str | None:
    """The provider a `backtest --fetch-history` snapshot in `folder` was fetched from (its manifest.json), or None
    for any other folder or one whose manifest cannot be read (the CSV's kind is then unknown, not guessed)."""
    if folder is None:
        return None
    try:
        provider = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))["provider"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return provider if isinstance(provider, str) else None


def price_basis(
    sources: Collection[str], *, snapshot: str | None = None, adjusted_beside: bool = False
) -> tuple[PriceBasis, str | None]:
    """The kind of the closes given by `sources` (each bar's provider: alpaca, yfinance, csv, synthetic), `snapshot`
    naming the provider a CSV folder was fetched from, `adjusted_beside` whether every CSV file has an adjusted close
    column beside the Close read, and the leaderboard's note saying what it means (None for synthetic closes: the
    leaderboard already says they say nothing of real markets)."""
    named = sorted(set(sources))
    csv_kind = WITHOUT_DIVIDENDS.get(snapshot or "") or (BESIDE_ADJUSTED if adjusted_beside else None)
    kinds = [csv_kind if s == CSV else WITHOUT_DIVIDENDS.get(s) for s in named]
    if named == [SYNTHETIC]:
        return PriceBasis(sources=tuple(named), dividends="none"), None
    if named and all(kinds):
        said = "; ".join(sorted({k for k in kinds if k}))
        via = f", fetched into the CSV snapshot ({snapshot})" if CSV in named and snapshot else ""
        return PriceBasis(sources=tuple(named), dividends="excluded"), (
            f"prices: closes without dividends ({said}{via}): the paper broker pays none, so each ex-dividend day "
            f"books the drop in price {_EX_DATE}, so a long's total return is short of a holder's by the dividends "
            "paid in the range and a short's over by the dividends it would pay (FLAT's is neither); no adjustment is "
            "made"
        )
    unknown = ", ".join(s for s, k in zip(named, kinds, strict=True) if not k) or "none"
    return PriceBasis(sources=tuple(named), dividends="unknown"), (
        f"prices: closes from {', '.join(named) or 'no source'}, of which {unknown} cannot be told adjusted for "
        "dividends or not (a CSV folder's Close is as its files give it): if not (a broker's export, Yahoo's Close), "
        f"each ex-dividend day books the drop in price {_EX_DATE}, and a long's total return is short of a holder's "
        "by the dividends paid, a short's over by the dividends it would pay; if they are (a Close column that holds "
        "adjusted closes; a file's Adj Close column is never read), the dividends are in the returns. No adjustment "
        "is made"
    )


def adjusted_beside(folder: Path | None, symbols: Iterable[str]) -> bool:
    """Whether every symbol's file in `folder` has an adjusted close column (Adj Close, adjusted_close, adjClose, Adj.
    Close) beside the Close the CSV provider reads: that Close is then the one without dividends. False when a file
    is missing, unreadable or has none (its kind is then unknown, not guessed)."""
    if folder is None:
        return False
    wanted = list(symbols)
    for symbol in wanted:
        try:
            header = decoded((folder / f"{symbol}.csv").read_bytes()).partition("\n")[0]
        except (OSError, NotText):
            return False
        columns = {"".join(c for c in name.lower() if c.isalnum()) for name in header.split(delimiter(header))}
        if not columns & ADJUSTED_CLOSE:
            return False
    return bool(wanted)


def sources_of(bars: Mapping[str, Sequence[Bar]]) -> set[str]:
    """The providers that gave `bars` (each bar's source)."""
    return {bar.source for series in bars.values() for bar in series}


def csv_folder(app: Container, record: Sequence[StoredEvent]) -> Path | None:
    """The CSV folder the books' prices may have come from: a backtest's own (BacktestStarted.data 'csv:DIR'), else
    the configured one; for `snapshot_provider` to read what fetched it."""
    started = [e for e in record if e.type == BacktestStarted.event_type()]
    # The last start's: a resume may read the same files from a folder moved since (app/backtest_resume.py).
    data = str(started[-1].payload.get("data", "")) if started else ""
    if data.startswith("csv:"):
        return Path(data.removeprefix("csv:"))
    return csv_dir(app.loaded.config.assets, app.settings)
