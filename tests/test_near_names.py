"""Names near a name that names nothing: a slip of the keys names only what it slipped from.

CI at 24215496 failed by chance: `trace` of a run id copied one character short named, beside the run it was cut
from, another week's run whose random suffix happened to share enough characters (ids of one format are 0.8 alike).
"""

from __future__ import annotations

import pytest

from llmtrade.errors import UsageError, near_names

RUNS = [
    "20260107T130000Z-abe2df",
    "20260114T130000Z-9be21c",
    "20260121T130000Z-abe2d0",
    "20260128T130000Z-0be2d1",
]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("20260107T130000Z-abe2d", ["20260107T130000Z-abe2df"]),  # the last character lost
        ("20260107T130000Z-abe2dg", ["20260107T130000Z-abe2df"]),  # the last mistyped
        ("2026017T130000Z-abe2df", ["20260107T130000Z-abe2df"]),  # one in the middle lost
        ("20260107T130000Z-bae2df", ["20260107T130000Z-abe2df"]),  # two swapped
    ],
)
def test_a_slip_names_only_the_ids_it_slipped_from(typed: str, meant: list[str]) -> None:
    assert near_names(typed, RUNS, cutoff=0.8) == meant
    # Far names of the same format are 0.8 alike: difflib alone names them too, which is what this rule mends.
    from difflib import get_close_matches

    assert len(get_close_matches(typed, RUNS, n=3, cutoff=0.8)) > 1


def test_with_no_slip_the_near_ones_are_named_nearest_first() -> None:
    assert near_names("acct_sonet", ["acct_sonnet", "acct_gpt", "flat"]) == ["acct_sonnet"]
    assert near_names("20260107T130000Z-ffffff", RUNS, cutoff=0.7)[0] == "20260107T130000Z-abe2df"
    assert near_names("zzz", RUNS) == []


def test_an_unknown_run_among_many_names_only_the_one_it_was_cut_from() -> None:
    # Days 07 and 09 with suffixes ...207 and ...209: the 07 cut short is one key from its run, two from day 09's.
    runs = [f"202601{day:02d}T130000Z-abe2{day:02x}" for day in range(1, 29)]
    refused = UsageError.unknown("--run x is no run on record", runs[6][:-1], runs, otherwise="")
    assert str(refused).endswith(f"did you mean {runs[6]}?"), str(refused)
