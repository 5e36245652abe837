"""The look-ahead audit of discovery's forward returns (`dry_run_matured`, `compare_matured`).

After each week's jobs the backtest records the forward returns its judged sessions matured (BacktestDiscovery
.matured), from the candidates' bars held for the whole range, and every later discovery reads them (the ensemble
weights re-fitted from what matured, discovery/outcomes.py `weights_asof`). The discovery's own cut-off rerun reads
the stored returns as the real one does, so a return measured past the instant it was recorded at (a horizon counted
one short, a session's close read from the held range's end) passed every audit. In a sampled week the write is
rerun first, into a draft, in a market cut at the clock's instant (`wall`: the sessions closed by then, nothing
later) and without the held bars; the returns the real write then records must be the same.
"""

from __future__ import annotations

import json
from datetime import date

from llmtrade.app.backtest_audit import wall
from llmtrade.app.backtest_container import BacktestContainer
from llmtrade.app.backtest_discovery import BacktestDiscovery
from llmtrade.discovery import outcomes
from llmtrade.domain.discovery import ForwardReturns

ROLE = "discovery:forward returns"


def dry_run_matured(app: BacktestContainer, discovery: BacktestDiscovery) -> list[ForwardReturns]:
    """The forward returns the real write is about to record, recorded instead into a draft in a market that holds
    nothing after the clock's instant (the last session closed by then is the last matured: taken from the exchange's
    hours, not the market's own helpers, as `wall` is)."""
    last, _ = wall(app.calendar, app.clock.now())
    app.cutoff, app.opened = last, None
    app.last_draft = None
    try:
        with app.storage(persist=False) as draft:
            market = app.market(draft, record=False)  # the cut one (BacktestContainer.market), no held bars
            due = {s: set(symbols) for s, symbols in discovery.pending.items() if s < last}
            return outcomes.record_matured(draft.events, market, last, due)
    finally:
        app.cutoff = app.opened = None
        app.last_draft = None  # nothing of it is kept: it asked no model


def compare_matured(real: list[ForwardReturns], audited: list[ForwardReturns]) -> tuple[str, str, str] | None:
    """None when the real write recorded what the cut-off one did, else (the role naming the first return that
    differs, its real text, the cut-off one's: "(nothing)" for one recorded by one write only)."""
    mine, theirs = _texts(real), _texts(audited)
    for key in sorted({*mine, *theirs}):
        if mine.get(key) != theirs.get(key):
            session, horizon = key
            return f"{ROLE} {session} h{horizon}", mine.get(key, "(nothing)"), theirs.get(key, "(nothing)")
    return None


def _texts(found: list[ForwardReturns]) -> dict[tuple[date, int], str]:
    return {
        (f.session, f.horizon): json.dumps(f.model_dump(mode="json"), indent=1, sort_keys=True, default=str)
        for f in found
    }
