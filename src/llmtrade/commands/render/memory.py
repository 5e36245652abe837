"""The `memory` commands' terminal output."""

from __future__ import annotations

from llmtrade.app.memory_results import MemoryRebuilt, MemorySearch, MemoryShown, MemoryStats
from llmtrade.commands.render.common import counted, pct
from llmtrade.console import Output
from llmtrade.domain.memory import Recollection


def _summary(hit: Recollection) -> str:
    if hit.setup is not None:
        s = hit.setup
        ending = ""
        if hit.outcome is not None:
            o = hit.outcome
            verdict = {True: "right", False: "wrong", None: "-"}[o.thesis_right]
            ending = f" -> {pct(o.week_return, 2)} ({verdict})"
        first = s.thesis.splitlines()[0] if s.thesis else ""
        return f"{s.instrument} {s.direction} {s.conviction:+d} by {s.author}{ending}: {first[:70]}"
    if hit.condition is not None:
        return f"week {hit.week_id} (session {hit.condition.session})"
    if hit.note is not None:
        return f"{hit.note.instrument}: {hit.note.text[:80]}"
    return " / ".join(hit.lessons)[:90]


def print_search(out: Output, result: MemorySearch) -> None:
    what = "setups like the text" if result.by == "text" else f"weeks like {result.query}"
    if not result.enabled:
        out.line("the memory is off (models.yaml memory.enabled: false): the committee neither remembers nor recalls")
    if result.unsearched:
        n = result.unsearched
        out.line(
            f"{counted(n, 'setup vector')} from {', '.join(result.unsearched_models)} {'is' if n == 1 else 'are'} "
            f"not searched (this invocation embeds with {result.embedding_model}) until `llmtrade memory rebuild`"
        )
    out.line(f"{what}, known before {result.as_of.isoformat()}:")
    if not result.hits:
        why = "" if result.enabled else " (nothing is remembered while it is off)"
        if result.weeks_known is not None and result.weeks_known < 2 and result.enabled:
            # A trial read "nothing remembered matches" with one earlier week stored, and took the memory for empty.
            why = (
                f" ({counted(result.weeks_known, 'week')} known by then to compare with: each feature is scaled by its "
                "spread over the weeks known, so at least 2 are needed)"
            )
        out.line(f"  nothing remembered matches{why}")
        return
    out.table(
        "",
        # Both scores are distances: a week's condition distance, a setup's 1 / its fused rank sum.
        [
            "#",
            "memory id",
            "distance (smaller = closer)" if result.by == "week" else "score (smaller = closer)",
            "what",
        ],
        [[h.rank, h.memory_id, f"{h.score:.3f}", _summary(h)] for h in result.hits],
    )


def print_shown(out: Output, shown: MemoryShown) -> None:
    out.heading(f"{shown.memory_id} ({shown.kind}, event {shown.event_id})")
    for record in (shown.setup, shown.outcome, shown.condition, shown.lesson, shown.note):
        if record is not None:
            out.pairs([(k, v) for k, v in record.model_dump(mode="json").items()])
    for lesson in shown.lessons:
        out.line(f"lesson: {lesson}")


def print_stats(out: Output, stats: MemoryStats) -> None:
    out.pairs(
        [
            ("enabled", "yes" if stats.enabled else "no (models.yaml memory.enabled)"),
            ("weeks", f"{stats.first_week} .. {stats.last_week}" if stats.first_week else "none"),
            ("conditions", stats.conditions),
            ("setups", f"{stats.setups} ({stats.setups_with_outcome} with their outcome)"),
            ("lessons", stats.lessons),
            ("symbol notes", stats.symbol_notes),
            ("events", stats.events),
            ("embedder", stats.embedder),
        ]
    )
    stale = [e for e in stats.embeddings if not e.current]
    for use in stats.embeddings:
        mark = "" if use.current else "  (not the current model: `llmtrade memory rebuild` re-embeds)"
        out.line(f"  {use.table}: {counted(use.rows, 'vector')} from {use.model} ({use.dimensions} dims){mark}")
    if stale:
        unsearched = sum(e.rows for e in stale)
        out.line(f"{counted(unsearched, 'vector')} {'is' if unsearched == 1 else 'are'} not searched until rebuilt")


def print_rebuilt(out: Output, rebuilt: MemoryRebuilt) -> None:
    out.line(
        f"rebuilt the memory in {rebuilt.seconds:.1f} s with {rebuilt.embedding_model} ({rebuilt.dimensions} dims): "
        f"{counted(rebuilt.conditions, 'condition')}, {counted(rebuilt.setups, 'setup')}, "
        f"{counted(rebuilt.outcomes, 'outcome')}, {counted(rebuilt.lessons, 'lesson')}, "
        f"{counted(rebuilt.symbol_notes, 'symbol note')}"
    )
