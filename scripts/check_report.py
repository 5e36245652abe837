"""Open an `llmtrade report` HTML file in headless Chromium, check what it rendered, and take a screenshot.

    python scripts/check_report.py report.html [--screenshot docs/report.png] [--window-size 1400,2000]
    python scripts/check_report.py sweep.html --sweep      # `llmtrade report --sweep NAME`'s page

Chromium runs with a fresh profile, no sandbox (root in a container), no GPU, no QUIC, no background or
component traffic, and every host name resolving to nothing, so a page that needed the network would show it. The
DOM Chromium built (`--dump-dom`) is checked: every chart a div.chart holding an <svg> with drawn paths,
the leaderboard and week tables present, every `#event-N` link landing on an element, no text that
means a failure (Traceback, a figure written nan or inf, a value undefined). Then the layout, in a copy of the
page with a probe script, every <details> open: no wider than the window at the screenshot's width and at 500 px
(the narrowest headless Chromium opens), which a model's 100 KB word or a long index would break; a table
scrolling in its own box is fine. Exit 0 when all hold, 1 with the failures listed, 2 when Chromium or the
file is missing. Needs Debian's `chromium` (apt-get install chromium); the test suite does not: it checks the
same page by parsing it (tests/test_check_report.py reads this script's checks).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no host resolves: the page must not need one
]
FAILURE_TEXT = re.compile(r"Traceback|jinja2\.|Internal Server Error")
# A figure gone wrong as Python writes it (nan, inf: "+nan%", "[-inf, 1.20]"), in a number's place. "undefined" only
# as a text node of its own: the page runs no script, so it is prose (the leaderboard's note that a ratio over a
# standard deviation of 0 is undefined), never JavaScript's value, unless it stands where a value does.
BAD_FIGURE = re.compile(r"(?<![\w.])[+-]?(?:nan|inf)(?![\w])", re.IGNORECASE)
BAD_VALUE = re.compile(r"[+-]?(?:nan|inf|undefined)%?", re.IGNORECASE)
NARROW = 500  # px: the narrowest window headless Chromium opens (--window-size=400,900 gives a 500 px viewport)
LAYOUT_ID = "check-report-layout"
# Run in a copy of the page (the page itself has no script): every <details> opened, then the page's scroll width
# against the window's, and the outermost elements past the window's right edge that no scroll box holds (an
# element inside one, such as a wide table scrolling in itself, widens nothing). Written into the DOM as JSON for
# --dump-dom to carry out.
PROBE = (
    "<script>(() => {"
    "for (const d of document.querySelectorAll('details')) d.open = true;"
    "const root = document.documentElement, edge = root.clientWidth + 0.5;"
    "const held = (el) => { for (let a = el.parentElement; a && a !== document.body; a = a.parentElement)"
    " if (getComputedStyle(a).overflowX !== 'visible') return true; return false; };"
    "const past = (el) => el !== document.body && el.getBoundingClientRect().right > edge && !held(el);"
    "const own = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')"
    " + (typeof el.className === 'string' && el.className ? '.' + el.className.trim().split(/\\s+/).join('.') : '');"
    "const name = (el) => (el.id || el.className ? '' : own(el.parentElement) + ' > ') + own(el);"
    "const wide = [...document.body.querySelectorAll('*')].filter((el) => past(el) && !past(el.parentElement))"
    ".map((el) => name(el) + ' ' + Math.round(el.getBoundingClientRect().width) + 'px');"
    "const out = document.createElement('pre'); out.id = '" + LAYOUT_ID + "';"
    "out.textContent = JSON.stringify({window: root.clientWidth, page: root.scrollWidth, wide: wide.slice(0, 5),"
    " count: wide.length}); document.body.appendChild(out);"
    "})();</script>"
)


class Dom(HTMLParser):
    """What the checks need from the DOM: charts and their SVGs, tables, ids, links, visible text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.tables: list[str] = []
        self.charts: dict[str, int] = {}  # chart id -> <path> elements drawn inside it
        self.svgs = 0
        self.text: list[str] = []
        self._chart: str | None = None
        self._depth = 0
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(found["id"] or "")
        if tag == "a" and found.get("href"):
            self.links.append(found["href"] or "")
        if tag == "table":
            self.tables.append(found.get("class") or "")
        if tag == "svg":
            self.svgs += 1
        if tag in ("style", "script", "title"):
            self._hidden += 1
        if tag == "div" and found.get("class") == "chart":
            self._chart, self._depth = found.get("id") or f"chart-{len(self.charts)}", 0
            self.charts[self._chart] = 0
        elif self._chart is not None:
            if tag == "path":
                self.charts[self._chart] += 1
            if tag == "div":
                self._depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title"):
            self._hidden = max(0, self._hidden - 1)
        if tag == "div" and self._chart is not None:
            if self._depth == 0:
                self._chart = None
            else:
                self._depth -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def run(browser: str, page: Path, extra: list[str]) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="check-report-") as profile:
        command = [browser, *FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
        return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def with_probe(source: str) -> str:
    """The page with the layout probe before its own </body>, its last (a model's is escaped: &lt;/body&gt;)."""
    head, end, tail = source.rpartition("</body>")
    return f"{head}{PROBE}{end}{tail}" if end else source + PROBE


def measure(browser: str, source: str, width: int, height: int) -> dict[str, object] | str:
    """What the probe measured in a window of `width` px, or why nothing was measured."""
    with tempfile.TemporaryDirectory(prefix="check-report-layout-") as folder:
        copy = Path(folder) / "page.html"
        copy.write_text(with_probe(source), encoding="utf-8")
        dumped = run(browser, copy, ["--dump-dom", f"--window-size={width},{height}"])
    found = re.search(f'<pre id="{LAYOUT_ID}">(.*?)</pre>', dumped.stdout, re.DOTALL)
    if dumped.returncode != 0 or found is None:
        return f"no layout measured at {width} px (Chromium {dumped.returncode}): {dumped.stderr[-500:]}"
    measured: dict[str, object] = json.loads(html.unescape(found.group(1)))
    return measured


def too_wide(measured: dict[str, object]) -> list[str]:
    """A page that scrolls sideways as a whole, with the outermost elements that make it."""
    window, page, count = measured["window"], measured["page"], measured["count"]
    if not isinstance(page, int) or not isinstance(window, int) or page <= window:
        return []
    wide = measured["wide"] if isinstance(measured["wide"], list) else []
    return [
        f"at {window} px the page is {page} px wide: {count} elements past the window's edge outside a scroll box, "
        f"e.g. {', '.join(str(w) for w in wide)}"
    ]


def check(dom: Dom, source: str, *, sweep: bool = False) -> list[str]:
    """What is wrong with the DOM Chromium built of `source`. A sweep's page (`sweep`) has no charts of the backtest
    report's, nor its leaderboard and costs tables: its leaderboard and runs tables, at least, and the rest alike."""
    problems = []
    if sweep:
        if len(dom.tables) < 2:
            problems.append("no leaderboard and runs tables")
        return problems + _common(dom, source)
    if not dom.charts:
        problems.append("no charts (div.chart) in the DOM")
    for chart, paths in dom.charts.items():
        if paths == 0:
            problems.append(f"chart {chart} drew nothing (no <path> in its SVG)")
    if dom.svgs != source.count("<svg"):
        problems.append(f"the DOM has {dom.svgs} <svg> elements, the file {source.count('<svg')}")
    for table in ("leaderboard", "costs"):
        if table not in dom.tables:
            problems.append(f"no {table} table")
    return problems + _common(dom, source)


def _common(dom: Dom, source: str) -> list[str]:
    """Links that land nowhere or leave the page, and text that means a failure: on every page."""
    problems = []
    dangling = sorted({link for link in dom.links if link.startswith("#") and link[1:] not in dom.ids})
    if dangling:
        problems.append(f"{len(dangling)} links land nowhere, e.g. {dangling[:5]}")
    external = sorted({link for link in dom.links if not link.startswith("#")})
    if external:
        problems.append(f"links leave the page: {external[:5]}")
    text = " ".join(dom.text)
    bad = set(FAILURE_TEXT.findall(text)) | set(BAD_FIGURE.findall(text))
    bad |= {node.strip() for node in dom.text if BAD_VALUE.fullmatch(node.strip())}
    bad = sorted(bad)
    if bad:
        problems.append(f"error text on the page: {bad}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--screenshot", type=Path, help="Write a PNG of the page's top here.")
    parser.add_argument("--window-size", default="1400,2000", help="Width,height of the screenshot in pixels.")
    parser.add_argument("--sweep", action="store_true", help="The page is `llmtrade report --sweep`'s.")
    args = parser.parse_args()
    browser = chromium()
    if browser is None:
        print("no Chromium found: apt-get install -y chromium", file=sys.stderr)
        return 2
    if not args.report.is_file():
        print(f"no report at {args.report}", file=sys.stderr)
        return 2
    source = args.report.read_text(encoding="utf-8")
    dumped = run(browser, args.report, ["--dump-dom"])
    if dumped.returncode != 0 or "<html" not in dumped.stdout:
        print(f"Chromium failed ({dumped.returncode}): {dumped.stderr[-2000:]}", file=sys.stderr)
        return 1
    dom = Dom()
    dom.feed(dumped.stdout)
    problems = check(dom, source, sweep=args.sweep)
    anchors = sum(1 for i in dom.ids if i.startswith("event-"))
    print(
        f"{args.report}: {len(source.encode()):,} bytes; Chromium built {len(dom.charts)} charts "
        f"({', '.join(f'{c}: {n} paths' for c, n in dom.charts.items())}), {len(dom.tables)} tables, "
        f"{anchors} event anchors, {len(dom.links)} links"
    )
    width, height = (int(n) for n in args.window_size.split(","))
    for window in sorted({width, NARROW}, reverse=True):
        measured = measure(browser, source, window, height)
        if isinstance(measured, str):
            problems.append(measured)
            continue
        problems.extend(too_wide(measured))
        print(f"layout at {measured['window']} px: the page is {measured['page']} px wide (every <details> open)")
    if args.screenshot:
        args.screenshot.parent.mkdir(parents=True, exist_ok=True)
        size = f"--window-size={args.window_size}"
        shot = run(browser, args.report, [f"--screenshot={args.screenshot.resolve()}", size])
        if shot.returncode != 0 or not args.screenshot.is_file():
            problems.append(f"no screenshot ({shot.returncode}): {shot.stderr[-500:]}")
        else:
            print(f"screenshot: {args.screenshot} ({args.screenshot.stat().st_size:,} bytes)")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
