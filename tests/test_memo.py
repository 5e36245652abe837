"""llmtrade.memo.IdentityMemo: a value made once per object, by identity, with the object held."""

from __future__ import annotations

import gc
import threading

import pytest

from llmtrade.memo import IdentityMemo


def test_the_same_object_is_made_once_and_an_equal_one_afresh() -> None:
    made: list[tuple[int, ...]] = []

    def make(key: tuple[int, ...]) -> int:
        made.append(key)
        return sum(key)

    memo: IdentityMemo[tuple[int, ...], int] = IdentityMemo(8)
    first, equal = tuple([1, 2, 3]), tuple([1, 2, 3])
    assert first == equal and first is not equal
    assert memo.of(first, make) == 6 and memo.of(first, make) == 6
    assert made == [first]
    assert memo.of(equal, make) == 6
    assert len(made) == 2 and made[1] is equal  # by identity, not by value


def test_an_entry_holds_its_object_so_its_id_is_never_reused_for_another() -> None:
    memo: IdentityMemo[list[int], int] = IdentityMemo(8)
    memo.of([7], len)  # the only reference to the list is the memo's own
    gc.collect()
    # A new object could take a freed object's id: the held one is not freed, so a fresh list is made afresh.
    fresh = [1, 2]
    assert memo.of(fresh, len) == 2


def test_a_full_memo_starts_afresh() -> None:
    memo: IdentityMemo[str, int] = IdentityMemo(3)
    keys = [f"k{i}" * (i + 1) for i in range(4)]
    for key in keys[:3]:
        memo.of(key, len)
    assert len(memo) == 3
    memo.of(keys[3], len)
    assert len(memo) == 1


def test_threads_asking_together_get_the_same_values() -> None:
    memo: IdentityMemo[tuple[int, int], int] = IdentityMemo(16)
    objects = [(i, i) for i in range(40)]
    seen: list[list[int]] = []

    def ask() -> None:
        seen.append([memo.of(o, lambda t: t[0] * 10) for o in objects * 5])

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(row == [o[0] * 10 for o in objects * 5] for row in seen) and len(seen) == 4


def test_it_keeps_at_least_one_entry() -> None:
    with pytest.raises(ValueError, match="at least one"):
        IdentityMemo(0)
