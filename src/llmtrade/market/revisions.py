"""A provider's correction of bars the cache holds, said and recorded as it replaces them.

A session's bar is cached once settled (market/provider.py SETTLED), and each later fetch of a range holding it upserts
the provider's answer over it: a correction (Alpaca recalculates bars with trades reported late or busted; a vendor
fixes a row) replaced the cached prices without a word, so a close the books were valued at, or a paper order was
filled at, changed under the leaderboard's curve with nothing on record to say why. The new bars are taken (they are
the provider's latest word) and the change is recorded (BarsRevised) and said once. Only a bar of the same source is
compared: another provider's prices differ by nature (IEX's close is not the consolidated close), and a split's
restatement is SplitDetected's (market/splits.py), passed over here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from llmtrade.domain.market import Bar, BarsRevised
from llmtrade.domain.wording import named_first
from llmtrade.market.failures import few

# How far apart two prices of one bar may be and still be the same (a relative difference): a float read back.
_SAME = 1e-9
_FIELDS = ("open", "high", "low", "close")


def revisions(
    provider: str, cached: Mapping[str, Sequence[Bar]], bars: Mapping[str, Sequence[Bar]], skip: Collection[str]
) -> list[BarsRevised]:
    """One BarsRevised for each symbol of `bars` (`provider`'s answer) whose prices of some day differ from `cached`'s
    bar of that day from the same source; `skip`: symbols whose difference is a split's (or not cached at all)."""
    out = []
    for symbol, series in bars.items():
        if symbol in skip:
            continue
        old = {bar.day: bar for bar in cached.get(symbol, ())}
        changed = [
            (old[b.day], b) for b in series if b.day in old and old[b.day].source == b.source and _moved(old[b.day], b)
        ]
        if changed:
            out.append(
                BarsRevised(
                    provider=provider,
                    symbol=symbol,
                    days=[new.day for _, new in changed],
                    changes=[_change(before, after) for before, after in changed],
                )
            )
    return out


def revision_warning(revised: BarsRevised) -> str:
    """What a run says of `revised`."""
    shown = named_first(revised.changes, 3, sep="; ", more="; and {n} more")
    days = few([str(d) for d in revised.days], noun="days")
    return (
        f"{revised.symbol}: {revised.provider} revised its bars of {days} ({shown}): the new ones are taken; what was "
        "valued or filled at the old ones stands as recorded"
    )


def _moved(before: Bar, after: Bar) -> bool:
    return any(abs(getattr(before, f) - getattr(after, f)) > _SAME * max(abs(getattr(after, f)), 1.0) for f in _FIELDS)


def _change(before: Bar, after: Bar) -> str:
    moved = [
        f for f in _FIELDS if abs(getattr(before, f) - getattr(after, f)) > _SAME * max(abs(getattr(after, f)), 1.0)
    ]
    return f"{after.day} " + ", ".join(f"{f} {getattr(before, f):g} -> {getattr(after, f):g}" for f in moved)
