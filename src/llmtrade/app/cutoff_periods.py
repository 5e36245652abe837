"""The leaderboard's periods either side of the models' knowledge cutoff (models.yaml `knowledge_cutoff`).

A week that starts on or before the latest cutoff of the models whose words reach the trades (PMs, chairman,
and the research providers, whose packs and watchlist picks the PMs read) is one a model may have read about
in training (issue 13: an LLM that has read the future is not evidence): the weeks are split there into two
periods, and a note says which part is evidence.

Books that no model traded (every trading run offline: the rules provider answered every call) have no cutoff to
split at: a note says the accounts are the rules' results, and no more.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from llmtrade.analytics import curves
from llmtrade.analytics.records import ALL_BEFORE, Period, too_short, weeks_shown
from llmtrade.analytics.standings import standings
from llmtrade.app.account_spans import late_rows, later
from llmtrade.config.models import Config
from llmtrade.domain.committee import DecisionMade, PitchSubmitted
from llmtrade.domain.events import StoredEvent
from llmtrade.domain.research import ResearchPackBuilt
from llmtrade.domain.weeks import week_id_for
from llmtrade.storage.event_store import EventStore
from llmtrade.workflows.weekly import deciding_starts


def latest_cutoff(config: Config) -> date | None:
    """The latest knowledge cutoff of the models whose words reach the trades (`_informing`) that give one."""
    return max((c for _, c in _informing(config) if c is not None), default=None)


def _informing(config: Config) -> list[tuple[str, date | None]]:
    """(label, knowledge cutoff) of every model whose words reach the trades: the PMs and the chairman, and the
    research providers, whose packs the PMs pitch from (and whose first picks the watchlist): a researcher that
    has read the week's future can pass it on to PMs that have not."""
    models = config.models
    found = [(f"{pm.id} ({pm.model})", pm.knowledge_cutoff) for pm in models.pms]
    found.append((f"chairman ({models.chairman.model})", models.chairman.knowledge_cutoff))
    found += [(f"research {r.id} ({r.model})", r.knowledge_cutoff) for r in models.research]
    return found


def last_weeks_decided(events: EventStore) -> dict[str, date]:
    """Each model that pitched, decided or wrote a research pack in the books (PitchSubmitted, DecisionMade,
    ResearchPackBuilt) -> the last week it did. A pack the offline rules provider wrote was read by no model."""
    last: dict[str, date] = {}
    kinds = [PitchSubmitted.event_type(), DecisionMade.event_type(), ResearchPackBuilt.event_type()]
    for event in events.read(type=kinds):
        if event.week_id is None:
            continue
        if event.type == PitchSubmitted.event_type():
            model: str | None = events.payload(PitchSubmitted, event).pitch.model
        elif event.type == DecisionMade.event_type():
            model = events.payload(DecisionMade, event).decision.model
        else:  # its source alone, not the whole pack (a snapshot of the universe's indicators each)
            model = _pack_model(str(event.payload.get("pack", {}).get("research_source", "")))
        if model:
            last[model] = max(last.get(model, event.week_id), event.week_id)
    return last


def _pack_model(source: str) -> str | None:
    """The model of a pack's `research_source` ("A: perplexity/sonar-pro (live)", workflows/research_stages.py); None
    for one the offline rules provider wrote, or of another shape."""
    _, _, named = source.partition(": ")
    model, _, mode = named.rpartition(" (")
    return model if model and mode.rstrip(")") != "offline" else None


def _swapped_out(config: Config, decided: Mapping[str, date]) -> list[tuple[str, date | None]]:
    """The models that decided weeks of these books and are no longer in models.yaml (live books whose models.yaml
    changed between weeks), when one decided a week after the configured models' latest cutoff: of no known cutoff
    (unless models.yaml names it elsewhere with one), which went with the models.yaml it was in, and it may have read
    that week (a trial swapped a PM's model after
    the cutoff, and the weeks it traded were called evidence on the new model's cutoff). One that decided only weeks on
    or before that cutoff decided no week called evidence."""
    informing = {ref.model for ref in (*config.models.pms, config.models.chairman, *config.models.research)}
    given: dict[str, date] = {}  # a model named elsewhere in models.yaml (the council's) with a cutoff: that one
    for _, ref in config.models.model_refs():
        if ref.knowledge_cutoff is not None:
            given[ref.model] = max(given.get(ref.model, ref.knowledge_cutoff), ref.knowledge_cutoff)
    cutoff = latest_cutoff(config)
    return [
        (
            f"{model} (no longer a PM, chairman or research model in models.yaml; its last week here {week})",
            given.get(model),
        )
        for model, week in sorted(decided.items())
        if model not in informing and (cutoff is None or week > cutoff)
    ]


def split_at(sessions: Sequence[date], cutoff: date) -> int | None:
    """The curve point the periods before and after `cutoff` share (the last close before the first week that began
    after it), or None when the sessions are not split (all before it, or all after)."""
    first_clean = _first_clean(sessions, cutoff)
    return None if first_clean is None or first_clean == 1 else first_clean - 1


def _first_clean(sessions: Sequence[date], cutoff: date) -> int | None:
    """The first return after `cutoff`: return i (from close i-1 to close i) is clean when its whole week began
    after it; None when none is."""
    return next((i for i in range(1, len(sessions)) if week_id_for(sessions[i]) > cutoff), None)


RULES_ONLY = (
    "every trading run was offline: the offline rules provider answered every request ($0) and no model was called, "
    "so no model's knowledge cutoff applies, and the PM and chairman accounts show the offline rules' results, not "
    "the configured models'"
)


SYNTHETIC_ONLY = (
    "prices are the seeded synthetic market's: no model can have read them in training, whatever their dates, so no "
    "knowledge cutoff applies and the weeks are not split at one"
)


TRADES_BY_OPENING = (
    "in each knowledge-cutoff period a trade (a round trip: trades, hit rate) is counted in the period it opened in, "
    "wherever it closed: one opened on or before the cutoff and closed after it is not evidence from after it; costs "
    "and turnover are those of the fills made in the period's sessions, as its returns are"
)


def trading_modes(events: EventStore, runs: Sequence[StoredEvent]) -> list[str | None]:
    """The modes of the trading runs among `runs` (their RunStarted, RunFinished and RunFailed) that decided something:
    a run that failed with nothing of the week's stored (a live start with no network) decided nothing, and had
    counted as a model-run run in `offline_note` and `models_answered` (found by the new-user trial)."""
    return [e.payload.get("mode") for e in deciding_starts(events, runs)]


def offline_note(modes: Sequence[str | None]) -> str | None:
    """A note when some of the trading runs (their RunStarted `modes`) were offline and some were not: those weeks'
    decisions are the rules provider's, not a model's, though the rows and the cutoff split are the models'."""
    offline = sum(1 for mode in modes if mode == "offline")
    if not offline or offline == len(modes):
        return None
    return (
        f"{offline} of {len(modes)} trading runs were offline: the offline rules provider answered their requests ($0, "
        "no model called), so the PM and chairman rows mix the rules' decisions with the models'"
    )


def cutoff_periods(
    config: Config,
    tracks: list[curves.Track],
    trials: int,
    trial_names: set[str],
    *,
    models_answered: bool,
    late: Mapping[str, int] | None = None,
    synthetic: bool = False,
    decided: Mapping[str, date] | None = None,
) -> tuple[tuple[Period, ...], list[str]]:
    """The weeks before and after the latest knowledge cutoff of the models that inform the trades, and notes.

    `late`: the accounts that entered the books after they began, at which curve point (app/account_spans.py): in
    each period an account's row covers its own sessions, against FLAT and SPY over the same ones, and in a period
    that ended before it entered it has no return (a period it did not exist in ranked its cash as 0% returns).

    `models_answered` False (books whose every trading run was offline) gives no periods and the RULES_ONLY note:
    the rules provider has read nothing, so splitting its weeks at a model's cutoff would give a wrong reason.
    `synthetic` (every close the books were marked at is the synthetic market's) gives no periods and the SYNTHETIC_ONLY
    note: a seeded random market is in no model's training, whatever its dates (live models on it said "the models may
    have read this future"). Books of no daily return yet are not split, nor said to be before the cutoff.

    `decided` (`last_weeks_decided`): the models that pitched or decided, to the last week each did; one no longer in
    models.yaml that decided a week after the latest cutoff is a model of unknown cutoff (`_swapped_out`)."""
    if not models_answered:
        return (), [RULES_ONLY]
    if synthetic:
        return (), [SYNTHETIC_ONLY]
    models = _informing(config) + _swapped_out(config, decided or {})
    unknown = [name for name, cutoff in models if cutoff is None]
    known = [(name, cutoff) for name, cutoff in models if cutoff is not None]
    notes = []
    if unknown:
        notes.append(
            f"no knowledge_cutoff in models.yaml for {', '.join(unknown)}: any week may be one that model has "
            "read about in training"
        )
    if not known:
        return (), notes
    cutoff = max(c for _, c in known)
    latest = ", ".join(name for name, c in known if c == cutoff)
    sessions = tracks[0].curve.sessions
    if len(sessions) < 2:  # no daily return yet: "every week is on or before the cutoff" was said of 2026 books
        return (), notes
    first_clean = _first_clean(sessions, cutoff)
    if first_clean is None:
        notes.append(
            f"{ALL_BEFORE} ({cutoff}, {latest}): the models may have "
            "read this future in training, so these results are not evidence of skill"
        )
        return (), notes
    # A model without a cutoff may have read any week: the weeks after the others' are evidence only if it has not.
    unless = f", unless the models without a knowledge_cutoff ({', '.join(unknown)}) read it" if unknown else ""
    if first_clean == 1:
        which = "the knowledge cutoff of every model that gives one" if unknown else "every model's knowledge cutoff"
        notes.append(f"every week is after {which} (the latest: {cutoff}, {latest}){unless}")
        return (), notes
    split = first_clean - 1  # the last close before the first clean week: the periods share it
    last = len(sessions) - 1
    notes.append(
        f"weeks up to {sessions[split]} are on or before the latest knowledge cutoff ({cutoff}, {latest}): "
        f"the models may have read this future, so only the period after it is evidence{unless}"
    )
    notes.append(TRADES_BY_OPENING)
    spans = [
        (f"before knowledge cutoff {cutoff} ({latest}): the models may have read this future", 0, split),
        (f"after knowledge cutoff {cutoff} ({latest})", split, last),
    ]
    periods = tuple(
        Period(
            label=label,
            start=sessions[first],
            end=sessions[to],
            standings=late_rows(
                standings(
                    [t.between(first, to, by_opening=True) for t in tracks],
                    trials=trials,
                    trial_names=trial_names,
                    starts=later(late or {}, first),
                ),
                tracks,
                late or {},
                trials,
                trial_names,
                first=first,
                last=to,
                by_opening=True,
            ),
        )
        for label, first, to in spans
    )
    before, after = periods
    before = closed(before)
    notes += filter(None, [closed_note(before)])
    return (before, after), notes


def closed(period: Period) -> Period:
    """`period` marked closed (no week can be added to it: the one before the knowledge cutoff), its rows that have
    fewer weeks than they need with no weeks more (None): every week to come is after the cutoff, so no wait brings
    them. A row that has its weeks keeps its 0.0, which promises nothing."""
    rows = tuple(s if not s.weeks_more else s.model_copy(update={"weeks_more": None}) for s in period.standings)
    return period.model_copy(update={"closed": True, "standings": rows})


def closed_note(period: Period) -> str | None:
    """Why a closed period's rows read "closed" for their weeks more (None when none does): it cannot grow, so the
    rows it is too short for (fewer weeks than needed, or daily returns too few for any ratio) cannot be told from
    FLAT over it, however long one waits."""
    short = [
        s
        for s in period.standings
        if s.weeks_more is None and (s.weeks_needed is not None or too_short(s)) and s.name != curves.FLAT
    ]
    if not short:
        return None
    # Too short for any ratio: no weeks needed to compare with, only the 4 weeks (20 returns) every ratio needs.
    rows = ", ".join(
        f"{s.name} ({s.weeks:.1f} weeks of the {weeks_shown(s.weeks_needed)} needed)"
        if s.weeks_needed is not None
        else f"{s.name} ({s.weeks:.1f} weeks, under the 4 any ratio needs)"
        for s in short
    )
    return (
        f"{period.label}: closed: every week to come is after the knowledge cutoff, so no week can be added to this "
        f"period and its weeks more are closed (null in --json): {rows} cannot be told from FLAT over it, and waiting "
        "will not change that; only the period after the cutoff grows"
    )
