"""scripts/check_report.py's checks of the DOM Chromium built, without Chromium: they read the dumped DOM, so a page
fed to its parser stands in for the dump."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "check_report.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_report", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("check_report", module)
    spec.loader.exec_module(module)
    return module


def _problems(body: str) -> list[str]:
    """check()'s problems with a page that has every part it looks for, and `body` besides."""
    page = (
        '<html><body><div class="chart" id="chart-equity"><svg><path d="M0 0"/></svg></div>'
        '<table class="leaderboard"></table><table class="costs"></table>'
        f"{body}</body></html>"
    )
    script = _script()
    dom = script.Dom()
    dom.feed(page)
    return script.check(dom, page)


def test_the_leaderboards_note_that_a_ratio_is_undefined_is_no_error_text() -> None:
    """Every report with FLAT in it has the leaderboard's note that a ratio over a standard deviation of 0 is
    'undefined' (since 2026-12-04): the check took the English word for JavaScript's undefined and failed every
    report, the README's own among them. The page is rendered by Python with no script of its own, so 'undefined'
    is prose; a figure gone wrong reads nan or inf there (Python's), alone or in a number's place."""
    note = (
        "<ul><li>Sharpe is n/a for acct_6, FLAT: their daily returns never varied (cash throughout), and a ratio over "
        "a standard deviation of 0 is undefined; Calmar is n/a for acct_6, FLAT</li></ul>"
    )
    assert _problems(note) == []


def test_a_figure_python_wrote_as_nan_or_inf_is_error_text() -> None:
    for cell in ("nan%", "+nan [nan, nan]", "1.20 [-inf, 2.00]", "NaN", "undefined"):
        problems = _problems(f'<table><tr><td class="n">{cell}</td></tr></table>')
        assert [p for p in problems if p.startswith("error text on the page")], cell


def test_a_page_wider_than_its_window_is_a_failure_naming_what_widens_it() -> None:
    """The layout check: Chromium measures the page (every <details> open) in a copy carrying a probe script, and a
    page that scrolls sideways as a whole fails, naming the outermost elements past the window's right edge that no
    scroll box holds (a table in its own scroll box is fine)."""
    script = _script()
    measured = {"window": 500, "page": 1350, "wide": ["table.costs 914px", "nav.weeks 5350px"], "count": 2}
    assert script.too_wide(measured) == [
        "at 500 px the page is 1350 px wide: 2 elements past the window's edge outside a scroll box, "
        "e.g. table.costs 914px, nav.weeks 5350px"
    ]
    assert script.too_wide({"window": 1400, "page": 1400, "wide": [], "count": 0}) == []


def test_the_probe_goes_in_before_the_pages_own_end_of_body() -> None:
    """A model's '</body>' is escaped in the page (&lt;/body&gt;); the page's own is its last."""
    script = _script()
    page = "<html><body><p>&lt;/body&gt; said a model</p></body></html>"
    probed = script.with_probe(page)
    assert probed.startswith("<html><body><p>&lt;/body&gt; said a model</p><script>")
    assert probed.endswith("</script></body></html>") and script.LAYOUT_ID in probed
