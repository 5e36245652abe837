"""The report's page no wider than its window: what scripts/check_report.py measures in headless Chromium (the page's
scroll width against its viewport, every <details> open, at the screenshot's 1400 px and at 500 px, the narrowest
window headless Chromium opens), checked here by the stylesheet rules that hold it, as the suite has no browser."""

from __future__ import annotations

from tests.test_report_html import _page, parsed


def _rule(selector: str) -> set[str]:
    """The declarations of the stylesheet's rule for exactly `selector`, as 'property: value' strings."""
    styles = parsed(_page()).styles[0]
    found = [line for line in styles.splitlines() if line.split("{")[0].strip() == selector]
    assert len(found) == 1, (selector, found)
    return {d.strip() for d in found[0].split("{", 1)[1].rstrip("} ").split(";") if d.strip()}


def test_the_weeks_index_wraps_onto_more_lines() -> None:
    """The index of weeks is its links written one after the other with no space between (and each link nowrap):
    no break opportunity, so a 52-week report's index was one line of 5,350 px in a 1,400 px window (Chromium:
    the page scrolled sideways, every week's section with it). A wrapping flex row breaks between any two links."""
    html = _page()
    assert '<nav class="weeks"><a href="#week-' in html and "</a><a href" in html  # no space between the links
    assert {"display: flex", "flex-wrap: wrap"} <= _rule("nav.weeks")
    assert "white-space: nowrap" in _rule("nav.weeks > *")  # a week's date never breaks inside


def test_a_table_wider_than_the_window_scrolls_in_its_own_box() -> None:
    """Only the leaderboard sat in a scroll box (div.wide): in a 500 px window the costs (12 columns), pitches,
    orders, fills, checkpoints and postmortem tables were 490-910 px and the whole page 1,350 px wide. Every table
    is a block now, no wider than its container, scrolling sideways itself; the table inside it still narrows to
    its cells' least width first, so model text wraps (overflow-wrap: anywhere) before anything scrolls."""
    assert {"display: block", "max-width: 100%", "overflow-x: auto"} <= _rule("table")
    assert "width: max-content" not in _rule("table")  # a 100 KB word would make that table 800,000 px wide
