"""An account's fills as a broker listed them, split once and carried forward: what reconciliation,
valuation and the audit log ask of them at every checkpoint, at the cost of the fills new since the last look.

A broker lists every fill of the account on each read (brokers/protocol.py `fills`), so whatever is
computed from that list, per fill and in Python, costs the account's whole history at every checkpoint.
`view_of` keeps the last list it split per broker and account (as a tuple); the very tuple split last time
(a paper look with no fill derived hands out its book's own tuple, the same object until a fill is recorded)
is the kept view at once, without a pass over the account's fills (issue 13: that pass and the list copy
before it grew with the history at every look); a new list that starts with the kept one (the same fills,
compared whole, at C speed: the paper broker hands back the very same objects) is split only past it,
anything else is split again from scratch. Nothing is trusted across lists: the kept split is
a cache of a pure function of the list, so a new process, another backtest in this one, a fill that sorts
in earlier or a partial fill that grew all give the same answer as a fresh split.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

from llmtrade.domain.ledger import carried, signed_qty
from llmtrade.domain.reconciliation import OUR_ORDER_PREFIX, is_ours, own_shares
from llmtrade.domain.trading import Fill


@dataclass(frozen=True)
class FillView:
    """The broker's `fills` (fill order, as listed; a tuple, the broker's own when it handed one out) split by
    client_order_id:
    `ids` each fill's id in the same order; `prefixed` signed shares per symbol of the fills whose id has
    llmtrade's own format (in order of first appearance); `others` the fills whose id has not (a planned id
    may still claim them, a hand trade never), in fill order."""

    fills: tuple[Fill, ...]
    ids: list[str]
    prefixed: dict[str, int]
    others: list[Fill]
    # How many leading ids were last found all in the audit log: a hint where to start looking, checked again
    # unless asked with the very frozenset they were found in (kept beside, so its id is not reused: neither it
    # nor these ids can have changed since). One cell, replaced whole: the two always go together.
    recorded_hint: list[tuple[int, frozenset[str] | None]] = field(default_factory=lambda: [(0, None)])

    def claimed(self, planned: Collection[str]) -> bool:
        """Whether a planned id claims one of the fills outside llmtrade's id format."""
        return any(f.client_order_id in planned for f in self.others)

    def own(self, planned: Collection[str]) -> dict[str, int]:
        """`domain.reconciliation.own_shares(fills, planned)`: signed shares per symbol of llmtrade's own fills."""
        if not self.claimed(planned):
            return dict(self.prefixed)
        return own_shares(self.fills, planned)

    def ours(self, planned: Collection[str]) -> Sequence[Fill]:
        """The fills of llmtrade's own orders (`is_ours`), in fill order: the view's own tuple when all are (the same
        object look after look while the broker's fills are, which the breaker's trades know it by)."""
        if not self.others:
            return self.fills
        return [f for f in self.fills if is_ours(f.client_order_id, planned)]

    def unrecorded(self, done: Collection[str], working: Collection[str]) -> list[Fill]:
        """The fills whose id is in neither `done` (already in the audit log) nor `working`, in fill order.

        The ids already checked are checked again at C speed (`done` only grows, but it is not trusted to), unless
        `done` is the very frozenset they were found in."""
        ids = self.ids
        start, checked_in = self.recorded_hint[0]
        # The account's recorded fills are looked through again only when the audit log's set is another one.
        if not (start <= len(ids) and (checked_in is done or _covers(done, ids, start))):
            start = 0
        for n in range(start, len(ids)):
            if ids[n] not in done:
                start = n
                break
        else:
            start = len(ids)
        self.recorded_hint[0] = (start, done if isinstance(done, frozenset) else None)
        return [f for f in self.fills[start:] if f.client_order_id not in done and f.client_order_id not in working]


def _covers(done: Collection[str], ids: list[str], upto: int) -> bool:
    if isinstance(done, (set, frozenset)):
        return done.issuperset(ids[:upto])
    return all(i in done for i in ids[:upto])


def split(fills: Sequence[Fill], base: FillView | None = None) -> FillView:
    """The view of `fills`, split past `base` when `fills` starts with base's fills (`base` is left as it is)."""
    listed = fills if type(fills) is tuple else tuple(fills)  # a broker's tuple kept as it is: known by identity
    if base is None:
        ids: list[str] = []
        prefixed: dict[str, int] = {}
        others: list[Fill] = []
        new: Sequence[Fill] = listed
    else:
        ids, prefixed, others = list(base.ids), dict(base.prefixed), list(base.others)
        new = listed[len(base.fills) :]
    for fill in new:
        ids.append(fill.client_order_id)
        if fill.client_order_id.startswith(OUR_ORDER_PREFIX):
            prefixed[fill.symbol] = prefixed.get(fill.symbol, 0) + signed_qty(fill)
        else:
            others.append(fill)
    # The base's ids head the new view's unchanged: what was found of them holds for these.
    hint = [base.recorded_hint[0]] if base is not None else [(0, None)]
    return FillView(fills=listed, ids=ids, prefixed=prefixed, others=others, recorded_hint=hint)


def _adopted(kept: FillView, fills: Sequence[Fill]) -> FillView:
    """`kept` over `fills`, an equal list of other objects (a fill derived at one look, recorded by the next):
    kept as it was, the next look would compare these objects field by field against the old ones (pydantic's
    __eq__) at every look until the account's next fill; adopted, it finds the very same objects."""
    return FillView(
        fills=fills if type(fills) is tuple else tuple(fills),
        ids=kept.ids,
        prefixed=kept.prefixed,
        others=kept.others,
        recorded_hint=[kept.recorded_hint[0]],
    )


class _Views:
    """The last view of each broker's account, extended when its next list of fills starts with it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: dict[tuple[str, str], FillView] = {}

    def view(self, broker: str, account_id: str, fills: Sequence[Fill]) -> FillView:
        key = (broker, account_id)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and fills is kept.fills:
            return kept  # the usual look at a paper account: the very tuple split last time (a tuple never changes)
        stands = "other" if kept is None else carried(kept.fills, fills)
        if stands == "same":
            view = kept  # the very same fills, listed anew
        elif stands == "extended":
            view = split(fills, kept) if len(fills) > len(kept.fills) else _adopted(kept, fills)
        else:
            view = split(fills)
        with self._lock:
            self._kept[key] = view
        return view


_VIEWS = _Views()


def view_of(broker: str, account_id: str, fills: Sequence[Fill]) -> FillView:
    """The split of `fills` (a broker's list for the account), carried on from the last one when it starts with it."""
    return _VIEWS.view(broker, account_id, fills)
