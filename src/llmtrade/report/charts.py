"""The report's charts as inline SVG, drawn with matplotlib (static, no JavaScript, works offline).

Deterministic: the same data gives the same bytes. The SVG carries no date (metadata Date None, the
metadata block removed), its element ids are hashed with a fixed salt per chart (`svg.hashsalt`), so two
charts in one page never share an id, and text stays text (`svg.fonttype` none: no glyph paths whose
ids would be shared, and the page's font is used). The Agg-free `Figure` API is used, never pyplot, so
no global figure state and no GUI backend.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from functools import wraps
from typing import Any, ParamSpec

from llmtrade.analytics.records import Curve, Interval, Standing
from llmtrade.app.report_records import WeekReport

BASELINE_STYLE = {"FLAT": ("#555555", ":"), "SPY": ("#000000", "--"), "EQUAL_WEIGHT": ("#8c564b", "-.")}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_ID = re.compile(r'(\sid=)"([^"]+)"')
_REFERENCE = re.compile(r'((?:href=")|(?:url\())#')


# In force while a chart is drawn, not only saved: texts read them when they are made.
SETTINGS = {
    "svg.fonttype": "none",
    "font.size": 10,
    "text.parse_math": False,  # a name with $ signs is a name, not TeX to typeset (or to fail on)
    "text.usetex": False,
}
P = ParamSpec("P")
_COMMENT = re.compile(r"\s*<!--.*?-->", re.DOTALL)  # matplotlib escapes "--" inside its comments


@contextmanager
def _drawing() -> Iterator[None]:
    import matplotlib  # lazy: matplotlib is loaded only when a report is drawn

    with matplotlib.rc_context(SETTINGS):
        yield


def _drawn(chart: Callable[P, str | None]) -> Callable[P, str | None]:
    """`chart` run with SETTINGS in force."""

    @wraps(chart)
    def draw(*args: P.args, **kwargs: P.kwargs) -> str | None:
        with _drawing():
            return chart(*args, **kwargs)

    return draw


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=72)


# The space around the axes, in points (a figure at 72 dpi: a point is a pixel), from what its labels measure.
# matplotlib's constrained layout found it by laying every tick and label out an extra time, half of a chart's
# time (an equity chart of 9 curves over 260 sessions: 0.26 s constrained, 0.17 s placed so).
_TICK = 3.5 + 3.5  # a tick's length and its label's pad (matplotlib's defaults)
_EDGE = 5.0  # clear of the figure's edge
_WIDEST = 0.7  # y labels wider than this share of the figure (a sweep's long names) are cut, the axes kept


def _placed(figure: Any, axes: Any, *, title_size: float | None = None) -> None:
    """`axes` placed in `figure` leaving room for its y tick labels (left), title (top), x tick labels (bottom)
    and the last x label's overhang (right), each measured in the font in force."""
    import matplotlib

    size = float(matplotlib.rcParams["font.size"])
    width, height = (float(v) * 72 for v in figure.get_size_inches())
    ys = _labels(axes.yaxis, axes.get_ylim())
    xs = _labels(axes.xaxis, axes.get_xlim())
    left = min(max((_width(label, size) for label in ys), default=0.0) + _TICK + _EDGE, _WIDEST * width)
    right = max((_width(label, size) for label in xs[-1:]), default=0.0) / 2 + _EDGE
    top = 1.2 * (title_size or 1.2 * size) + float(matplotlib.rcParams["axes.titlepad"]) + _EDGE
    bottom = 1.2 * size + _TICK + _EDGE
    figure.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height)


def _labels(axis: Any, limits: tuple[float, float]) -> list[str]:
    """The tick labels `axis` will draw within `limits`, in order (its locator's ticks, its formatter's text)."""
    low, high = sorted(limits)
    ticks = [t for t in axis.get_major_locator()() if low <= t <= high]
    return [str(label) for label in axis.get_major_formatter().format_ticks(ticks)]


def _width(text: str, size: float) -> float:
    """The width of `text` in points at `size`, in matplotlib's font (its text layout, without drawing)."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    return float(text_to_path.get_text_width_height_descent(text, FontProperties(size=size), ismath=False)[0])


def _svg(figure: Any, salt: str) -> str:
    import matplotlib

    with matplotlib.rc_context({"svg.hashsalt": f"llmtrade-{salt}"}):
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    # Inline SVG in HTML needs neither the XML declaration nor the DOCTYPE; the metadata names a URL.
    text = text[text.index("<svg") :]
    text = _COMMENT.sub("", _METADATA.sub("", text))
    # matplotlib names its groups figure_1, axes_1... in every chart: prefix every id and every reference
    # to one with the chart's name, so the page's ids stay unique and each reference finds its own chart.
    text = _ID.sub(lambda m: f'{m.group(1)}"{salt}-{m.group(2)}"', text)
    text = _REFERENCE.sub(lambda m: f"{m.group(1)}#{salt}-", text)
    return text.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', "", 1).strip()


def _style(curve: Curve, index: int) -> dict[str, Any]:
    if curve.kind == "baseline":
        color, dash = BASELINE_STYLE.get(curve.name, ("#7f7f7f", "--"))
        return {"color": color, "linestyle": dash, "linewidth": 1.6}
    return {"color": PALETTE[index % len(PALETTE)], "linestyle": "-", "linewidth": 1.4}


@_drawn
def equity_chart(curves: Sequence[Curve]) -> str | None:
    """Each account's and baseline's equity (USD) at each session's close; None without curves."""
    if not curves:
        return None
    figure = _figure(11, 4.6)
    axes = figure.add_subplot()
    for index, curve in enumerate(curves):
        axes.plot(curve.sessions, curve.equity, label=curve.name, **_style(curve, index))
    axes.set_title("Equity at each close (USD)")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left", fontsize=8, ncols=min(len(curves), 5))
    _placed(figure, axes)
    return _svg(figure, "equity")


def drawdowns(equity: Sequence[float]) -> list[float]:
    """Each close's fall from the highest close so far, as a non-positive fraction (-0.05 = 5% below)."""
    peak = float("-inf")
    falls = []
    for value in equity:
        peak = max(peak, value)
        falls.append(value / peak - 1.0 if peak > 0 else 0.0)
    return falls


@_drawn
def drawdown_chart(curves: Sequence[Curve]) -> str | None:
    if not curves:
        return None
    figure = _figure(11, 3.4)
    axes = figure.add_subplot()
    for index, curve in enumerate(curves):
        axes.plot(curve.sessions, [100 * d for d in drawdowns(curve.equity)], label=curve.name, **_style(curve, index))
    axes.set_title("Drawdown from the running peak (%)")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower left", fontsize=8, ncols=min(len(curves), 5))
    _placed(figure, axes)
    return _svg(figure, "drawdown")


@_drawn
def interval_chart(
    standings: Sequence[Standing], field: str, title: str, salt: str, *, percent: bool = False
) -> str | None:
    """One row per standing: the estimate as a dot and its interval as a bar; rows without an estimate say n/a,
    an estimate without an interval says so.
    `percent`: the values are fractions, drawn as percent."""
    scale = 100.0 if percent else 1.0
    if not standings:
        return None
    figure = _figure(4.5, 0.34 * len(standings) + 1.0)
    axes = figure.add_subplot()
    names = [s.name for s in standings]
    rows = list(range(len(standings)))[::-1]  # first standing on top
    for row, standing in zip(rows, standings, strict=True):
        interval: Interval = getattr(standing, field)
        color = "#444444" if standing.kind == "baseline" else "#1f77b4"
        if interval.low is not None and interval.high is not None:
            axes.plot([scale * interval.low, scale * interval.high], [row, row], color=color, linewidth=5, alpha=0.35)
        if interval.estimate is not None:
            axes.plot([scale * interval.estimate], [row], "o", color=color, markersize=5)
            if interval.low is None or interval.high is None:  # a bare dot would read as a very tight interval
                axes.annotate(
                    "no interval",
                    (scale * interval.estimate, row),
                    xytext=(6, 0),  # clear of the dot, which would hide the first letters
                    textcoords="offset points",
                    fontsize=8,
                    color="#999999",
                    va="center",
                )
        else:
            axes.annotate("n/a", (0, row), fontsize=8, color="#999999", va="center")
    axes.axvline(0, color="#999999", linewidth=0.8)
    axes.set_yticks(rows, names)
    axes.set_ylim(-0.7, len(standings) - 0.3)
    # Over the figure, not the axes: long names leave the axes narrower than the title (a sweep's "NAME acct_1").
    figure.suptitle(title, fontsize=10, y=1 - _EDGE / (72 * figure.get_size_inches()[1]), va="top")
    axes.grid(True, axis="x", alpha=0.3)
    _placed(figure, axes, title_size=10)
    return _svg(figure, salt)


@_drawn
def cost_chart(weeks: Sequence[WeekReport]) -> str | None:
    """The models' cost (USD) per week as bars; None when no week has calls."""
    if not any(w.cost.calls for w in weeks):
        return None
    figure = _figure(11, 2.8)
    axes = figure.add_subplot()
    days: list[date] = [w.week_id for w in weeks]
    # One line per week in one collection: a bar patch per week costs seconds over a 520-week backtest.
    axes.vlines(days, 0, [w.cost.cost_usd for w in weeks], color="#9467bd", linewidth=3)
    axes.set_ylim(bottom=0)
    axes.set_title("Model cost per week (USD)")
    axes.grid(True, axis="y", alpha=0.3)
    _placed(figure, axes)
    return _svg(figure, "cost")
