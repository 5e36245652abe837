"""A seeded synthetic market for offline runs: clearly labelled, never used by a live run.

Six correlated factors (equity, rates, credit, usd, gold, oil) drive every instrument through
its asset class, with volatilities of the right order per class and a two-state regime (calm,
stressed) that switches now and then, so the committee has trends, sell-offs and flights to
quality to reason about. The path is generated from a fixed origin in a fixed order, session by
session, so a bar never depends on which range or symbols were asked for, nor on how far the path
was generated (the calendar's horizon moves with the day it was built): point-in-time reads stay
consistent and a backtest stores the same events whenever and wherever it runs.
"""

from __future__ import annotations

import math
import random
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from functools import lru_cache

from llmtrade.config.candidates import packaged_candidates
from llmtrade.domain.market import Bar, trusted_bar
from llmtrade.errors import MarketDataError
from llmtrade.market.calendar import TradingCalendar

ORIGIN = date(2015, 1, 2)
FACTORS = ("equity", "rates", "credit", "usd", "gold", "oil")
# Annualised factor volatility in the calm regime.
FACTOR_VOL = {"equity": 0.16, "rates": 0.12, "credit": 0.07, "usd": 0.07, "gold": 0.14, "oil": 0.32}
# Annualised drift per regime.
DRIFT = {
    "calm": {"equity": 0.10, "rates": 0.01, "credit": 0.05, "usd": 0.00, "gold": 0.04, "oil": 0.03},
    "stressed": {"equity": -0.35, "rates": 0.12, "credit": -0.15, "usd": 0.10, "gold": 0.10, "oil": -0.30},
}
VOL_MULTIPLIER = {"calm": 1.0, "stressed": 2.2}
SWITCH = {"calm": 1 / 150, "stressed": 1 / 35}  # daily chance of leaving the regime
CORRELATION = {
    ("equity", "credit"): 0.65,
    ("equity", "rates"): -0.25,
    ("equity", "oil"): 0.35,
    ("equity", "usd"): -0.15,
    ("rates", "credit"): 0.20,
    ("usd", "gold"): -0.40,
    ("usd", "oil"): -0.20,
    ("gold", "rates"): 0.25,
}
# Per instrument: (asset-class factor loading, idiosyncratic annualised vol, starting price).
KNOWN = {
    "SPY": (1.00, 0.02, 470.0),
    "QQQ": (1.25, 0.06, 400.0),
    "IWM": (1.20, 0.08, 200.0),
    "TLT": (1.00, 0.03, 95.0),
    "IEF": (0.45, 0.015, 96.0),
    "HYG": (1.00, 0.02, 77.0),
    "LQD": (0.80, 0.03, 108.0),
    "UUP": (1.00, 0.01, 28.0),
    "GLD": (1.00, 0.01, 185.0),
    "IAU": (1.00, 0.01, 38.0),
    "USO": (1.00, 0.05, 72.0),
    "BNO": (0.95, 0.06, 27.0),
}
# A KNOWN symbol's own class, its path's factor whether the universe holds it or not, and whatever class assets.yaml
# gives it (that class groups it for the risk gate's class limit; its prices are the symbol's). A trial took USO out
# of assets.yaml while an account was short 1828 at 11.17: priced as a candidate instead (a path of its own, from
# another start), the week's roll bought it back at 95.37, and the account's equity went to -53,549.
KNOWN_CLASS = {
    "SPY": "equity",
    "QQQ": "equity",
    "IWM": "equity",
    "TLT": "rates",
    "IEF": "rates",
    "HYG": "credit",
    "LQD": "credit",
    "UUP": "usd",
    "GLD": "gold",
    "IAU": "gold",
    "USO": "oil",
    "BNO": "oil",
}
TRADING_DAYS = 252
# The path is generated from ORIGIN in whole blocks of this many sessions (about a year), as far as the
# furthest day asked for: a backtest of 2016 does not generate through the calendar's horizon.
_BLOCK = 256


class SyntheticMarket:
    name = "synthetic"
    synthetic = True

    def __init__(self, asset_classes: Mapping[str, str], seed: int = 7, extra: Mapping[str, str] | None = None):
        """`asset_classes` (symbol -> class) drive the factor path; `extra` symbols (discovery's candidates)
        ride on that path with a random stream of their own each, so adding or dropping one never moves
        another symbol's bars."""
        extra = {s: c for s, c in (extra or {}).items() if s not in asset_classes}
        self._classes = dict(asset_classes)
        self._extra = extra
        self._seed = seed
        # One path per (universe, candidates, seed) in the process, shared by every market built on them: a
        # backtest builds its providers anew for each job (some 20 a week), and generating or even looking up
        # the path per market (hashing the horizon's sessions) was most of a checkpoint's quote.
        key = (tuple(sorted(self._classes.items())), tuple(sorted(extra.items())), seed)
        shared = _SHARED.get(key)
        if shared is None:
            unknown_class = {s: c for s, c in {**asset_classes, **extra}.items() if _factor(c) is None}
            if unknown_class:
                raise MarketDataError(f"synthetic market has no factor for {unknown_class}")
            shared = _Shared(key[0])
            if len(_SHARED) < 16:  # a process sees one or two universes; a bound all the same
                _SHARED[key] = shared
        self._shared = shared

    def origin(self, symbol: str) -> None:
        return None

    def incomplete(self, close: datetime) -> None:
        return None  # its bars are drawn whole

    def daily_bars(self, symbols: list[str], start: date, end: date) -> dict[str, list[Bar]]:
        unknown = [s for s in symbols if s not in self._classes and s not in self._extra and s not in KNOWN]
        if unknown:
            raise MarketDataError(f"synthetic market does not know {', '.join(unknown)} (not in the universe)")
        if end < ORIGIN:
            return {s: [] for s in symbols}
        # The path from ORIGIN through `end` (whole blocks), extended when a later day is asked for: every
        # request is a slice of it, and a bar never depends on the range asked for.
        sessions = self._shared.sessions_through(end)
        # Every symbol's rows are one per generated session, in order: the sessions index them all.
        first, last = bisect_left(sessions, start), bisect_right(sessions, end)
        if last - first == 1:  # one session (a quote, a fill): its Bars are kept, a day is asked for again and again
            return {s: [self._shared.bar(s, first, self._rows_of)] for s in symbols}
        # A range's Bars unvalidated: MarketData validates every provider's answer before anyone reads it (its one
        # caller for a range), and a backtest's discovery asks for some 100 candidates over its whole history.
        return {
            s: [
                trusted_bar(s, d, o, h, lo, c, float(v), "synthetic", True)
                for d, o, h, lo, c, v in self._rows_of(s, last)[first:last]
            ]
            for s in symbols
        }

    def _rows_of(self, symbol: str, length: int) -> list[_Row]:
        """`symbol`'s rows of at least the first `length` generated sessions (a longer list is the same prefix)."""
        shared = self._shared
        rows = shared.rows.get(symbol)
        if rows is None or len(rows) < length:
            sessions = shared.sessions_through(date.min)
            path, _ = _generate(shared.classes, self._seed, sessions)
            if symbol in path:
                rows = path[symbol]
            else:
                rows = _generate_extra(symbol, self._extra[symbol], shared.classes, self._seed, sessions)
            shared.rows[symbol] = rows
        return rows


class _Shared:
    """What every market on one (universe, candidates, seed) shares: the sessions generated so far (a prefix
    of the calendar's from ORIGIN), each symbol's rows over them, and the Bars of single sessions already asked
    for (frozen models: safe to hand out twice; a session's index never changes as the path grows)."""

    def __init__(self, classes: tuple[tuple[str, str], ...]):
        self.classes = classes
        self.rows: dict[str, list[_Row]] = {}
        self.day_bars: dict[tuple[str, int], Bar] = {}
        self._sessions: tuple[date, ...] = ()
        self._through = date.min  # the last day the generated sessions answer for

    def sessions_through(self, end: date) -> tuple[date, ...]:
        """The generated sessions, first extended (whole blocks from ORIGIN) to cover `end` if they do not;
        MarketDataError if `end` is past the calendar."""
        if end > self._through:
            calendar = TradingCalendar()
            if end > calendar.last_day:
                raise MarketDataError(f"the synthetic market ends at {calendar.last_day}; {end} is past the calendar")
            horizon = calendar.sessions_between(ORIGIN, calendar.last_day)
            length = min(len(horizon), -(-bisect_right(horizon, end) // _BLOCK) * _BLOCK)
            self._sessions = tuple(horizon[:length])
            # Up to the day before the next session not generated: a request ending on a weekend or holiday
            # after the last generated session is answered without growing again.
            self._through = calendar.last_day if length == len(horizon) else horizon[length] - timedelta(days=1)
        return self._sessions

    def bar(self, symbol: str, index: int, rows_of: Callable[[str, int], list[_Row]]) -> Bar:
        bar = self.day_bars.get((symbol, index))
        if bar is None:
            bar = self.day_bars[(symbol, index)] = _bar(symbol, rows_of(symbol, index + 1)[index])
        return bar


_SHARED: dict[tuple[object, ...], _Shared] = {}


def candidate_classes() -> dict[str, str]:
    """Discovery's packaged candidates by asset class: the extra symbols an offline market prices."""
    return dict(_candidate_classes())


@lru_cache(maxsize=1)
def _candidate_classes() -> dict[str, str]:
    # The packaged list is read once per process: every offline market of a backtest's jobs is built with it.
    return {c.symbol: c.asset_class.value for c in packaged_candidates()}


_Row = tuple[date, float, float, float, float, int]  # day, open, high, low, close, volume


def _bar(symbol: str, row: tuple[date, float, float, float, float, int]) -> Bar:
    day, open_, high, low, close, volume = row
    return Bar(
        symbol=symbol,
        day=day,
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=volume,
        source="synthetic",
        synthetic=True,
    )


def _factor(asset_class: str) -> str | None:
    return asset_class if asset_class in FACTORS else None


@lru_cache(maxsize=4)
def _generate(
    classes: tuple[tuple[str, str], ...], seed: int, sessions: tuple[date, ...]
) -> tuple[dict[str, list[_Row]], list[tuple[str, dict[str, float]]]]:
    """The universe's bars as plain rows (a Bar is built only for the sessions asked for: most of the path
    never is), and the (regime, factor returns) of every session that extra symbols ride on. Every draw is
    made session by session, in order: the rows of a prefix of `sessions` are the rows of the prefix.

    A symbol taken out of the universe or put in moves no other symbol's bars (an operator's trial took LQD out of
    assets.yaml mid-week: QQQ's prices were rewritten from 2082 to 617, and a position sold at the new one), nor its
    own when it is KNOWN: every KNOWN symbol is generated, at its own class (KNOWN_CLASS), from its draws in the
    seed's stream, in a fixed order, whether the universe holds it or not, so one still held after it left the
    universe is valued and closed at the prices it was bought at. Any other symbol draws from a stream of its own
    (seed, symbol). The packaged universe is KNOWN: its path is the one every earlier version generated."""
    rng = random.Random(seed)
    chol = _cholesky([[_corr(a, b) for b in FACTORS] for a in FACTORS])
    configured = {**dict(classes), **KNOWN_CLASS}
    symbols = list(configured)
    others = {s: random.Random(zlib.crc32(f"synthetic:{seed}:{s}".encode())) for s in symbols if s not in KNOWN}
    drawing = [(s, rng) for s in sorted(KNOWN)] + [(s, others[s]) for s in sorted(others)]
    price = {s: KNOWN.get(s, (1.0, 0.03, 100.0))[2] for s in symbols}
    bars: dict[str, list[_Row]] = {s: [] for s in symbols}
    factors: list[tuple[str, dict[str, float]]] = []
    regime = "calm"
    dt = 1 / TRADING_DAYS
    for day in sessions:
        if rng.random() < SWITCH[regime]:
            regime = "stressed" if regime == "calm" else "calm"
        shocks = [rng.gauss(0, 1) for _ in FACTORS]
        correlated = [sum(chol[i][k] * shocks[k] for k in range(i + 1)) for i in range(len(FACTORS))]
        factor_return = {
            f: DRIFT[regime][f] * dt + FACTOR_VOL[f] * VOL_MULTIPLIER[regime] * math.sqrt(dt) * correlated[i]
            for i, f in enumerate(FACTORS)
        }
        factors.append((regime, factor_return))
        for symbol, stream in drawing:
            asset_class = configured[symbol]
            draw = stream.gauss
            beta, idio, _ = KNOWN.get(symbol, (1.0, 0.03, 100.0))
            day_return = beta * factor_return[asset_class] + idio * math.sqrt(dt) * draw(0, 1)
            day_vol = FACTOR_VOL[asset_class] * VOL_MULTIPLIER[regime] * beta * math.sqrt(dt)
            previous = price[symbol]
            close = previous * math.exp(day_return)
            open_ = previous * math.exp(0.25 * day_vol * draw(0, 1))
            high = max(open_, close) * (1 + abs(draw(0, 0.4)) * day_vol)
            low = min(open_, close) * (1 - min(abs(draw(0, 0.4)) * day_vol, 0.5))
            volume = round(1_000_000 * math.exp(draw(0, 0.3)) * (1.6 if regime == "stressed" else 1.0))
            bars[symbol].append((day, round(open_, 4), round(high, 4), round(low, 4), round(close, 4), volume))
            price[symbol] = close
    return bars, factors


@lru_cache(maxsize=512)
def _generate_extra(
    symbol: str, asset_class: str, classes: tuple[tuple[str, str], ...], seed: int, sessions: tuple[date, ...]
) -> list[tuple[date, float, float, float, float, int]]:
    """One extra symbol's bars: its own loading, idiosyncratic vol, price and liquidity, drawn from a
    stream seeded by (seed, symbol), on the universe's factor path. Vectorised (numpy): a hundred
    candidates over the calendar's whole horizon in well under a second. The stream is drawn session by
    session (row i of the shocks is session i's) and summed in order, so the rows of a prefix of `sessions`
    are the rows of the prefix whatever the length generated."""
    import numpy as np  # lazy: only discovery's candidates need it here

    regime_scale, factor_return = _class_path(classes, seed, sessions, asset_class)
    rng = np.random.default_rng(zlib.crc32(f"synthetic:{seed}:{symbol}".encode()))
    beta = rng.uniform(0.6, 1.5)
    idio = rng.uniform(0.02, 0.35) if asset_class == "equity" else rng.uniform(0.01, 0.08)
    start = rng.uniform(math.log(15.0), math.log(600.0))
    # Liquidity spans the metric picker's 1M-share line: median about 3M shares a session.
    base_volume = math.exp(rng.uniform(math.log(2e5), math.log(4e7)))
    # Wider typical ranges for thinner names, so the spread estimate varies with liquidity.
    range_scale = 0.4 * (1 + max(0.0, math.log(3e6 / base_volume)) / 2)
    z = rng.standard_normal((len(sessions), 5)).T  # drawn per session: row-major, a session's five in a row
    root_dt = math.sqrt(1 / TRADING_DAYS)
    scale = np.asarray(regime_scale)
    day_return = beta * np.asarray(factor_return) + idio * root_dt * z[0]
    day_vol = FACTOR_VOL[asset_class] * scale * beta * root_dt + idio * root_dt
    log_close = start + np.cumsum(day_return)
    close = np.exp(log_close)
    previous = np.exp(np.concatenate(([start], log_close[:-1])))
    open_ = previous * np.exp(0.25 * day_vol * z[1])
    high = np.maximum(open_, close) * (1 + np.abs(range_scale * z[2]) * day_vol)
    low = np.minimum(open_, close) * (1 - np.minimum(np.abs(range_scale * z[3]) * day_vol, 0.5))
    stressed = np.where(scale > 1.0, 1.6, 1.0)
    volume = np.rint(base_volume * np.exp(0.3 * z[4]) * stressed)
    rows = zip(
        sessions,
        np.round(open_, 4).tolist(),
        np.round(high, 4).tolist(),
        np.round(low, 4).tolist(),
        np.round(close, 4).tolist(),
        volume.astype(int).tolist(),
        strict=True,
    )
    # Plain rows: a Bar is built only for the sessions asked for (a model per session of the horizon is slow).
    return list(rows)


@lru_cache(maxsize=16)
def _class_path(
    classes: tuple[tuple[str, str], ...], seed: int, sessions: tuple[date, ...], asset_class: str
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per session: the regime's volatility multiplier and `asset_class`'s factor return, from the universe's path."""
    _, factors = _generate(classes, seed, sessions)
    return (
        tuple(VOL_MULTIPLIER[regime] for regime, _ in factors),
        tuple(returns[asset_class] for _, returns in factors),
    )


def _corr(a: str, b: str) -> float:
    if a == b:
        return 1.0
    return CORRELATION.get((a, b), CORRELATION.get((b, a), 0.0))


def _cholesky(matrix: list[list[float]]) -> list[list[float]]:
    n = len(matrix)
    lower = [[0.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1):
            total = sum(lower[i][k] * lower[j][k] for k in range(j))
            if i == j:
                lower[i][j] = math.sqrt(matrix[i][i] - total)
            else:
                lower[i][j] = (matrix[i][j] - total) / lower[j][j]
    return lower
