"""The fill view carried forward from one look to the next (brokers/fill_view.py): it must answer exactly
what a fresh split of the same list answers (reconciliation decides what is llmtrade's at the broker with
it, valuation the breaker's trades, the audit log which fills to record), and a look must cost the fills
new since the last one, not the account's history (issue 13: a week's cost grew with the history behind it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import llmtrade.brokers.fill_view as fill_view
from llmtrade.brokers.fill_view import split, view_of
from llmtrade.domain.reconciliation import is_ours, ledger_from, ledger_view, own_shares, reconcile
from llmtrade.domain.trading import Fill, Side

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)


def _fill(n: int, cid: str | None = None, symbol: str = "SPY", side: Side = Side.BUY, qty: int = 1) -> Fill:
    return Fill(
        client_order_id=cid or f"lt-{n}",
        account_id="acct_1",
        symbol=symbol,
        side=side,
        qty=qty,
        price=100.0 + n,
        filled_at=T0 + timedelta(minutes=n),
    )


def _history(n: int) -> list[Fill]:
    symbols = ("SPY", "QQQ", "TLT")
    return [_fill(i, symbol=symbols[i % 3], side=Side.BUY if i % 4 else Side.SELL, qty=1 + i % 5) for i in range(n)]


def _fresh(fills: list[Fill], planned: frozenset[str], done: frozenset[str], working: frozenset[str]) -> tuple:
    ours = [f for f in fills if is_ours(f.client_order_id, planned)]
    unrecorded = [f for f in fills if f.client_order_id not in done and f.client_order_id not in working]
    foreign = [d for d in reconcile({}, [], fills, ledger_view([], ()), planned) if d.kind == "unknown_fill"]
    return own_shares(fills, planned), ours, unrecorded, foreign


def _carried(key: str, fills: list[Fill], planned: frozenset[str], done: frozenset[str], working: frozenset[str]):
    view = view_of("paper", key, fills)
    foreign = [d for d in reconcile({}, [], view.others, ledger_view([], ()), planned) if d.kind == "unknown_fill"]
    return view.own(planned), list(view.ours(planned)), view.unrecorded(done, working), foreign


def test_a_view_carried_over_growing_lists_answers_what_a_fresh_split_does() -> None:
    # Hand trades in the middle, one of them claimed by a planned id, the audit log a step behind.
    fills = _history(30)
    fills[7] = _fill(7, cid="by-hand-7", symbol="QQQ")
    fills[12] = _fill(12, cid="planned-12", symbol="TLT", side=Side.SELL, qty=3)
    planned = frozenset({"planned-12"})
    for upto in (5, 6, 13, 13, 20, 30):
        shown = fills[:upto]
        done = frozenset(f.client_order_id for f in shown[: max(0, upto - 2)])
        working = frozenset({shown[-1].client_order_id})
        assert _carried("acct-grow", shown, planned, done, working) == _fresh(shown, planned, done, working)


def test_a_changed_history_is_split_again_not_carried_on() -> None:
    # A fill that sorts in earlier (a late recorded fill) and a partial fill that grew: the kept split is stale.
    fills = _history(10)
    view_of("paper", "acct-change", fills)
    late = [*fills[:3], _fill(99, symbol="TLT", side=Side.SELL, qty=40), *fills[3:]]
    assert view_of("paper", "acct-change", late).own(frozenset()) == own_shares(late, ())
    grown = [*late[:-1], late[-1].model_copy(update={"qty": late[-1].qty + 7})]
    assert view_of("paper", "acct-change", grown).own(frozenset()) == own_shares(grown, ())
    assert view_of("paper", "acct-change", grown).own(frozenset()) != own_shares(late, ())
    shorter = grown[:4]
    assert list(view_of("paper", "acct-change", shorter).ours(frozenset())) == shorter


def test_a_fill_claimed_by_a_plan_is_llmtrades_and_not_reported_as_unknown() -> None:
    fills = [*_history(4), _fill(4, cid="old-format-4", symbol="QQQ", qty=9)]
    view = view_of("paper", "acct-claim", fills)
    assert view.own(frozenset())["QQQ"] == own_shares(fills[:4], ())["QQQ"]
    assert view.own(frozenset({"old-format-4"}))["QQQ"] == own_shares(fills[:4], ())["QQQ"] + 9
    assert reconcile({}, [], view.others, ledger_from({}), frozenset({"old-format-4"})) == []
    assert [d.client_order_id for d in reconcile({}, [], view.others, ledger_from({}), frozenset())] == ["old-format-4"]


def test_the_recorded_hint_is_checked_again_so_a_fill_missing_from_the_log_is_still_recorded() -> None:
    # The same account's list, looked at against a store holding every fill, then one that lost the first
    # (another backtest's database in this process, or a rolled-back write): the first must come back.
    fills = _history(8)
    view = view_of("paper", "acct-hint", fills)
    ids = frozenset(f.client_order_id for f in fills)
    assert view.unrecorded(ids, frozenset()) == []
    assert view_of("paper", "acct-hint", fills).unrecorded(ids - {"lt-0"}, frozenset()) == [fills[0]]
    assert view_of("paper", "acct-hint", fills).unrecorded(set(ids - {"lt-5"}), frozenset()) == [fills[5]]


def test_a_look_costs_the_new_fills_not_the_history(monkeypatch: pytest.MonkeyPatch) -> None:
    # What is done per fill in Python (signed shares, the id's format): counted over a long history,
    # then over one look that adds two fills.
    history = _history(2_000)
    view_of("paper", "acct-cost", history)
    counted: list[Fill] = []
    real = fill_view.signed_qty

    def counting(fill: Fill) -> int:
        counted.append(fill)
        return real(fill)

    monkeypatch.setattr(fill_view, "signed_qty", counting)
    more = [*history, _fill(2_000), _fill(2_001, symbol="QQQ")]
    view = view_of("paper", "acct-cost", more)
    assert counted == more[-2:]
    assert view.own(frozenset()) == own_shares(more, ())
    assert view.unrecorded(frozenset(f.client_order_id for f in history), frozenset()) == more[-2:]


def test_split_leaves_the_view_it_extends_as_it_was() -> None:
    # Views are shared by every caller of the same account: extending one must not change it.
    base = split(_history(5))
    before = (list(base.fills), list(base.ids), dict(base.prefixed), list(base.others))
    split([*_history(5), _fill(5, cid="by-hand"), _fill(6)], base)
    assert (list(base.fills), base.ids, base.prefixed, base.others) == before


def test_the_recorded_ids_are_looked_through_again_only_when_the_audit_logs_set_is_another(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A checkpoint asks with the same frozenset (the memoised fold's state) while nothing new is recorded: the
    # history found recorded last time is not looked through again; a new set (even an equal one) is.
    history = _history(500)
    done = frozenset(f.client_order_id for f in history)
    assert view_of("paper", "acct-same-set", history).unrecorded(done, frozenset()) == []
    looked: list[int] = []
    real = fill_view._covers

    def counting(done_: object, ids: list[str], upto: int) -> bool:
        looked.append(upto)
        return real(done_, ids, upto)  # type: ignore[arg-type]

    monkeypatch.setattr(fill_view, "_covers", counting)
    more = [*history, _fill(500)]
    assert view_of("paper", "acct-same-set", more).unrecorded(done, frozenset()) == [more[-1]]
    assert view_of("paper", "acct-same-set", more).unrecorded(done, frozenset()) == [more[-1]]
    assert looked == []
    assert view_of("paper", "acct-same-set", more).unrecorded(done - {"lt-3"}, frozenset()) == [more[3], more[-1]]
    assert looked == [500]
    equal = frozenset(list(done))  # another object, equal to the first
    assert equal is not done
    assert view_of("paper", "acct-same-set", more).unrecorded(equal, frozenset()) == [more[-1]]
    assert len(looked) == 2


def test_an_equal_list_of_other_objects_is_adopted_so_the_next_look_compares_no_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fill derived at one look and recorded by the next is an equal, other object: once seen, the view holds
    # the new objects, so later looks at that list match by identity instead of pydantic's field-by-field __eq__.
    fills = _history(6)
    view_of("paper", "acct-adopt", fills)
    again = [f.model_copy() for f in fills]
    adopted = view_of("paper", "acct-adopt", again)
    assert all(a is b for a, b in zip(adopted.fills, again, strict=True))
    assert (adopted.ids, adopted.prefixed, adopted.own(frozenset())) == (
        [f.client_order_id for f in fills],
        split(fills).prefixed,
        own_shares(again, ()),
    )
    compared: list[Fill] = []
    real = Fill.__eq__

    def counting(self: Fill, other: object) -> bool:
        compared.append(self)
        return real(self, other)

    monkeypatch.setattr(Fill, "__eq__", counting)
    assert view_of("paper", "acct-adopt", again) is adopted
    assert compared == []


def test_carried_tells_the_same_fills_an_extension_by_value_and_a_changed_start_apart() -> None:
    from llmtrade.domain.ledger import carried

    kept = tuple(_history(5))
    assert carried(kept, list(kept)) == "same"  # the very objects, listed anew
    assert carried(kept, [*kept, _fill(9)]) == "extended"
    equal = [f.model_copy() for f in kept]  # equal by value, other objects
    assert carried(kept, equal) == "extended" and carried(kept, [*equal, _fill(9)]) == "extended"
    late = [_fill(-1), *kept]  # a late fill that sorts earlier changes the start
    assert carried(kept, late) == "other"
    assert carried(kept, list(kept[:4])) == "other"  # fewer fills than kept
    assert carried(kept, [*kept[:4], _fill(8)]) == "other"  # the last kept fill changed
    assert carried((), []) == "same" and carried((), [_fill(1)]) == "extended"
