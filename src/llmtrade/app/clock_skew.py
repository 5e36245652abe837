"""A system clock away from the database server's: every command that writes the books refuses before anything.

A clock behind the books is seen from the books (app/clock_guard.py); a clock set ahead is not: they cannot tell a
machine off for three days from a clock three days fast. On a clock ahead (an NTP step, a VM resumed with a bad
clock) `run-due` closes the current week early: the postmortem of a week not finished, the next week's weekly run,
which the synthetic and CSV markets run through. The database server keeps its own clock, and `SELECT
clock_timestamp()` beside this process's clock costs one round trip before each such command. A server on another
machine (DATABASE_URL) is an independent witness; the embedded server reads this machine's clock and so always
agrees: there a clock set ahead is not caught.

Only the system clock is checked (Clock.real). LLMTRADE_NOW set is the operator's chosen time (drills, tests,
replays), and a backtest's stepped clock is its own: neither is compared with the server's, which reads the real
time. Beyond LLMTRADE_CLOCK_SKEW_MINUTES (default 5; 0: never) either way: exit 75, as a clock set back (it is the
operator's to put right, or NTP's), recorded (ClockSkewRefused) once per command while the same skew lasts, alerted
once per skew. A skew that moves by more than the allowance, or one found again after a run has started or a job command
was accepted (app/refusals_ended.py), is a new one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from llmtrade.app.clock_behind import new_york
from llmtrade.app.refusals_ended import ENDS_REFUSALS
from llmtrade.clock import Clock
from llmtrade.domain.runs import ClockSkewRefused
from llmtrade.domain.streams import CLOCK_SKEW
from llmtrade.storage.database_clock import database_now
from llmtrade.storage.event_store import EventStore
from llmtrade.storage.head_append import append_after

SETTING = "LLMTRADE_CLOCK_SKEW_MINUTES"


@dataclass(frozen=True)
class Skew:
    system_at: datetime  # the system clock's reading nearest the server's
    database_at: datetime
    seconds: float  # the system clock minus the server's: positive, the system clock is ahead


def measure(clock: Clock, conn: psycopg.Connection, allowed: timedelta) -> Skew | None:
    """How far the system clock is from the database server's, when beyond `allowed`; None within it, when the
    clock is not the system's (LLMTRADE_NOW, a backtest's), or when `allowed` is 0 (the check off)."""
    if not clock.real or allowed <= timedelta(0):
        return None
    before = clock.now()
    server = database_now(conn)
    after = clock.now()
    # The server read its clock somewhere inside the round trip: only what lies outside it is skew.
    if server < before - allowed:
        return Skew(before, server, (before - server).total_seconds())
    if server > after + allowed:
        return Skew(after, server, -(server - after).total_seconds())
    return None


def record(events: EventStore, command: str, skew: Skew, allowed: timedelta) -> tuple[ClockSkewRefused, bool]:
    """The refusal, recorded unless this command's was already for the same skew (the module's docstring); whether it
    was recorded now."""
    before = events.read_stream(CLOCK_SKEW)
    since = skew.database_at
    if before:
        last = ClockSkewRefused.from_event(before[-1])
        same = abs(last.skew_seconds - skew.seconds) <= allowed.total_seconds()
        if same and not events.read(type=list(ENDS_REFUSALS), after_id=before[-1].id, limit=1):
            since = last.since
    refused = ClockSkewRefused(
        command=command,
        system_at=skew.system_at,
        database_at=skew.database_at,
        skew_seconds=round(skew.seconds, 3),
        allowed_seconds=allowed.total_seconds(),
        since=since,
    )
    for event in reversed(before):  # this skew's refusals are the stream's last ones
        said = ClockSkewRefused.from_event(event)
        if said.since != since:
            break
        if said.command == command:
            return refused, False
    append_after(events, CLOCK_SKEW, before, refused)  # or another process recorded one at the same moment
    return refused, True


def refusal(refused: ClockSkewRefused) -> str:
    """The refusal's one line: which clocks disagree, by how much, and what would have gone wrong."""
    ahead = refused.skew_seconds > 0
    harm = (
        "on a clock ahead a job would close a week not yet finished or run the next week's"
        if ahead
        else "on a clock behind a job would trade or judge at past prices"
    )
    return (
        f"the system clock is {span(abs(refused.skew_seconds))} {'ahead of' if ahead else 'behind'} the database "
        f"server's: it reads {new_york(refused.system_at)}, the server {new_york(refused.database_at)} (allowed: "
        f"{span(refused.allowed_seconds)}, {SETTING}). {refused.command} refused: nothing ran ({harm}). Set "
        "whichever is wrong right (`timedatectl status` or `chronyc tracking` says whether NTP keeps it, here and on "
        "the server); it runs again once they agree"
    )


def span(seconds: float) -> str:
    """A skew as a person reads it: seconds, minutes, hours or days, as large as it is."""
    if seconds < 120:
        return f"{seconds:.0f} seconds"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} minutes"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 86400:.1f} days"
