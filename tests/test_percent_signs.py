"""A return that rounds to zero prints without a sign, in the terminal and in the HTML report alike.

Found by a new user: the leaderboard and status printed FLAT's and an idle account's total as "-0.0%" while the
report printed "+0.00%" for the same value; and at their two precisions the terminal's "+0.0%" could stand beside
the page's "-0.04%" for one number. Now a zero has no sign in either, and a sign shown is the number's own."""

from __future__ import annotations

import io
import re

import pytest

from llmtrade.commands.render.common import pct
from llmtrade.commands.render.leaderboard import print_leaderboard
from llmtrade.console import Output
from llmtrade.domain.wording import signed_percent
from llmtrade.report.render import _pct, render_report
from tests.test_report_html import leaderboard, report

VALUES = [-0.0, 0.0, -1e-12, 1e-12, -0.0004, 0.0004, -0.00049, -0.0005, -0.0006, 0.0123, -0.0123]


def test_zero_has_no_sign_and_a_sign_shown_is_the_numbers_own() -> None:
    assert [pct(v) for v in (-0.0, -1e-12, -0.0004, 0.0123, -0.0123)] == ["0.0%", "0.0%", "0.0%", "+1.2%", "-1.2%"]
    assert [_pct(v) for v in (-0.0, -1e-12, -0.0004, 0.0123)] == ["0.00%", "0.00%", "-0.04%", "+1.23%"]
    for value in VALUES:
        for text in (pct(value), _pct(value), signed_percent(value, 3)):
            assert not text.startswith(("-0.0", "+0.0")) or text.strip("+-0.%") != "", (value, text)
            if text[0] in "+-":  # the terminal and the page never show opposite signs for one number
                assert (text[0] == "-") == (value < 0), (value, text)


@pytest.mark.parametrize("total", [-0.0, -1e-12, -0.0004])
def test_the_leaderboard_and_the_report_print_the_same_zero(total: float) -> None:
    board = leaderboard()
    flat = board.standings[2].model_copy(update={"total_return": total, "cagr": total})
    board = board.model_copy(update={"standings": (flat,), "periods": ()})
    out = io.StringIO()
    print_leaderboard(Output(stream=out, force_plain=True), board)
    row = next(line for line in out.getvalue().splitlines() if line.startswith("FLAT\tbaseline"))
    assert row.split("\t")[3:5] == ["0.0%", "0.0%"], row
    html = render_report(report(), board)
    cells = re.search(r"<tr class=\"baseline\"><td>FLAT</td>.*?</tr>", html)
    assert cells is not None and "-0.00%" not in cells.group(0) and "+0.00%" not in cells.group(0)
    assert ('<td class="n">-0.04%</td>' if total == -0.0004 else '<td class="n">0.00%</td>') in cells.group(0)


def test_a_ratio_and_the_offline_rules_texts_have_no_signed_zero_either() -> None:
    """A trial: the leaderboard's Calmar "-0.00" beside the report's "0.00"; the offline postmortem's "the account made
    -0.00%" beside its table's "0.00%"; a thesis "-0.0% against its 50-day average"."""
    import random

    from llmtrade.agents.postmortem_writer import offline_reflection
    from llmtrade.agents.researcher import _pct as thesis_pct
    from llmtrade.commands.render.common import num

    assert [num(v) for v in (-0.0, -0.001, -0.004, -0.005, 0.0, -1.5, None)] == [
        "0.00", "0.00", "0.00", "-0.01", "0.00", "-1.50", "n/a",
    ]  # fmt: skip
    assert thesis_pct(-0.0004) == "0.0%" and thesis_pct(-0.012) == "-1.2%"
    answer = offline_reflection("LONG", -0.00004, -0.00001, [], random.Random(1))
    right = answer.what_the_thesis_got_right
    assert "made 0.00%; the instrument moved 0.00%." in right, right
