"""`llmtrade ask "QUESTION"` (issue 16): a model answers from the event store through read-only tools.

Live, the chairman's model gets the question and the tools of storage/ask_queries.py (function calling);
it may call them for a few rounds, then answers citing event ids as [#123]. Only ids the tools returned
count as cited: a model cannot cite what it did not read. Every turn is a recorded model call of a run of
its own (RunStarted/RunFinished on run:{id}, the calls on llm:{id}) under the dollar budget.

Offline (no key, or --offline) no model is asked: the question is read for an account, a run id, a time
(app/ask_days.py: a date, a weekday, yesterday as the previous trading session, this or last week, a part of a day;
any other relative time is refused), and words naming event kinds ("exit", "order", "fill", "breaker",
"failed"...; two of them, what both name), and the matching events are listed.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any

import psycopg

from llmtrade.app.ask_days import named_time, week_words
from llmtrade.app.ask_results import AskResult
from llmtrade.app.clock_behind import clock_behind
from llmtrade.app.container import Container
from llmtrade.app.job_loop import run_job
from llmtrade.app.runs import RunLog
from llmtrade.domain.runs import UNENDED, RunKilled, new_run_id
from llmtrade.errors import UsageError
from llmtrade.llm.budget import run_budget
from llmtrade.llm.gateway import LLMMode
from llmtrade.llm.records import CallSite
from llmtrade.llm.retry_policy import RetryPolicy
from llmtrade.llm.tool_chat import ToolChat
from llmtrade.market.calendar import NEW_YORK, TradingCalendar, new_york_date
from llmtrade.storage.ask_queries import MAX_ROWS, EventsArgs, ReadOnlyEvents, ToolRefused

KILLED = RunKilled.event_type()
MAX_TURNS = 6
ROLE = "ask"
SYSTEM = (
    "You answer questions about llmtrade, a committee of LLM portfolio managers trading paper accounts, "
    "from its event store only. Use the tools to read events (all read-only; nothing can be changed). "
    "Answer briefly and cite every event you rely on by id as [#123]. If the events do not say, say so."
)
_RUN_ID = re.compile(r"\b\d{8}T\d{6}Z-[0-9a-f]{6}\b")
_CITED = re.compile(r"#(\d+)")
# Words a person uses for kinds of events, to the event types they mean.
_KINDS: dict[str, tuple[str, ...]] = {
    "exit": ("CheckpointTaken", "OrderSubmitted", "OrderFilled", "OrdersPlanned"),
    "order": ("OrderSubmitted", "OrderRejected", "OrderBlocked", "OrdersPlanned", "LegHeldBack"),
    "fill": ("OrderFilled",),
    "reject": ("OrderRejected", "OrderBlocked"),
    "breaker": ("AccountHalted", "AccountResumed", "BreakerUpdated"),
    "halt": ("AccountHalted", "BreakerUpdated"),
    # What went wrong, whatever its kind: a run killed, a wake-up refused (the configuration, the clock), a job missed
    # (a trial's "what failed last week?" found none in a week of two kills, a refused config, missed checkpoints).
    "fail": (
        "RunFailed",
        "RunKilled",
        "LLMCallFailed",
        "StageFailed",
        "ConfigRejected",
        "ClockBehindRefused",
        "ClockSkewRefused",
        "CheckpointsMissed",
        "WeekNotRun",
        "AlertFailed",
        "DiscoveryFailed",
        "PitchFailed",
        "ReviewFailed",
        "BreakerCancelFailed",
        "MarketProviderFailed",
        "OrderRejected",
        "PlanAbandoned",
        "BudgetRefused",
    ),
    "kill": ("RunKilled",),
    "miss": ("CheckpointsMissed", "WeekNotRun"),
    # CommandRefused: a change to the books by hand refused (`positions settle`, `adopt`, `release`).
    "refuse": (
        "ConfigRejected",
        "ClockBehindRefused",
        "ClockSkewRefused",
        "OrderRejected",
        "BudgetRefused",
        "CommandRefused",
    ),
    # With their end (RefusalsEnded): a refusal listed alone read as lasting still.
    "config": ("ConfigRejected", "RefusalsEnded"),
    "clock": ("ClockBehindRefused", "ClockSkewRefused", "RefusalsEnded"),
    "budget": ("BudgetRefused",),
    "alert": ("AlertSent", "AlertFailed"),
    "checkpoint": (
        "CheckpointTaken",
        "CheckpointSkipped",
        "CheckpointCompleted",
        "EventCheckpointTriggered",
        "CheckpointsMissed",
    ),
    "pitch": ("PitchSubmitted", "PitchFailed"),
    "decision": ("DecisionMade",),
    "decid": ("DecisionMade",),  # decide, decided: "what did the chairman decide on Wednesday?"
    "review": ("ReviewSubmitted", "ReviewFailed"),
    "postmortem": ("PostmortemWritten", "PostmortemCompleted"),
}


def ask(app: Container, question: str) -> AskResult:
    """Answer `question` from the store: live with the read-only tools, or offline by listing events."""
    with app.storage() as storage:
        tools = ReadOnlyEvents(storage.location.url)
        try:
            if app.mode is not LLMMode.LIVE:
                now = app.clock.now()
                listed = offline_answer(question, tools, now, [a.id for a in app.loaded.config.accounts.accounts])
                behind = clock_behind((datetime.fromisoformat(row["occurred_at"]) for row in listed.events), now, "ask")
                if behind is None:
                    return listed
                app.warning(behind)
                return listed.model_copy(update={"warnings": [behind]})
            return _live(app, storage, tools, question)
        finally:
            tools.close()


def offline_answer(question: str, tools: ReadOnlyEvents, now: datetime, accounts: list[str]) -> AskResult:
    """The events the question's words point at (see the module docstring), newest first."""
    filters = read_question(question, now, accounts)
    args = EventsArgs.model_validate({**filters, "limit": MAX_ROWS})
    rows = tools.events(args)
    killed: list[dict[str, Any]] = []
    if args.types is None or KILLED in args.types:
        # Listed whatever the limit, and said first: "what failed last week?" listed the 50 newest of a week's failed
        # calls, and the weekly run killed before them was cut off the list (or one bare line among them).
        killed = tools.events(args.model_copy(update={"types": [KILLED]}))
        listed = {row["id"] for row in rows}
        rows = sorted([*rows, *(row for row in killed if row["id"] not in listed)], key=lambda row: -row["id"])
    return AskResult(
        question=question,
        mode="offline",
        cited=[row["id"] for row in rows],
        events=rows,
        filters=json.loads(args.model_dump_json(exclude_none=True)),
        killed=[_killed(row) for row in killed],
    )


def _killed(row: dict[str, Any]) -> str:
    """What a RunKilled row says: the run, its command, and the note `status` and `report` give of it."""
    payload = row["payload"]
    if not isinstance(payload, dict):  # cut for its length (ask_queries.PAYLOAD_CHARS): its run alone is known
        return f"run {row['run_id']} {UNENDED} (#{row['id']})"
    killed = RunKilled.model_validate(payload)
    note = killed.note(datetime.fromisoformat(row["occurred_at"]))
    return f"run {row['run_id']} ({killed.command}) {note} (#{row['id']})"


def read_question(question: str, now: datetime, accounts: list[str]) -> dict[str, Any]:
    """Filters for EventsArgs from a question's words: account, run id, day, event kinds."""
    text = question.lower()
    found: dict[str, Any] = {}
    named = [a for a in accounts if re.search(rf"\b{re.escape(a.lower())}\b", text)]
    if named:
        found["account_id"] = named[0]
    else:
        _no_such_account(text, accounts)
    run = _RUN_ID.search(question)
    if run:
        found["run_id"] = run.group(0)
    span = named_time(text, now)
    if span is not None:
        found["since"], found["until"] = span
    if types := _kinds_named(text):
        found["types"] = types
    return found


def _kinds_named(text: str) -> list[str]:
    """The event types the words of `text` point at: what every such word names, when they name something together
    ("checkpoints" and "missed": CheckpointsMissed; "orders" and "rejected"), else what any of them names. A reader's
    "which checkpoints were missed?" listed the newest 50 checkpoint records, none of them missed, as "checkpoint"
    widened what "missed" named."""
    named = [set(kinds) for word, kinds in _KINDS.items() if word in text]
    together = set.intersection(*named) if named else set()
    return sorted(together or set().union(*named))


def _no_such_account(text: str, accounts: list[str]) -> None:
    """Raise UsageError for a word shaped like the accounts' ids (`acct_9` beside acct_1..acct_6) that is none of them:
    the question was read without it and listed every account's events, as if it had named none."""
    prefixes = {match.group(0) for a in accounts if (match := re.match(r"[a-z]+_", a.lower()))}
    for prefix in sorted(prefixes):
        for word in re.findall(rf"\b{re.escape(prefix)}\w+\b", text):
            raise UsageError.unknown(
                f"the question names {word!r}, which is no account in accounts.yaml", word, accounts, otherwise=""
            )


def _live(app: Container, storage: Any, tools: ReadOnlyEvents, question: str) -> AskResult:
    config = app.loaded.config.models
    ref = config.chairman
    provider = config.providers[ref.provider]
    settings = app.settings
    now = app.clock.now()
    run_id = new_run_id(now)
    app.announce()
    chat = ToolChat(
        provider=ref.provider,
        base_url=settings.llm_base_url or str(provider.base_url),
        api_key=settings.llm_api_key or (settings.secret(provider.api_key_env) if provider.api_key_env else None),
        model=ref.model,
        max_tokens=ref.max_tokens,
        events=storage.events,
        price=config.prices.get(ref.model),
        budget=run_budget(config, storage.conn, now),
        timeout_seconds=provider.timeout_seconds,
        reasoning_as_answer=provider.reasoning_as_answer,
        # A temporary failure is waited out as the jobs' calls wait it out (their client's policy and limits), each
        # wait said as it begins; it failed the command at once (exit 75).
        retry=RetryPolicy(max_retries=provider.max_retries, max_retry_after=provider.max_retry_after_seconds),
        on_wait=lambda said: app.say(f"ask: {said}"),
        context_tokens=provider.context_tokens,
    )
    run = RunLog(storage.events, run_id=run_id, command="ask")
    try:
        run.started(
            arguments={"question": question[:200]},
            mode=app.mode.value,
            mode_reason=app.decision.reason,
            config_source=app.loaded.source,
        )
    except BaseException as exc:
        run.failed_if_open(exc)  # its start stored, then the stop landed (in the start's log line, say)
        raise
    with run.ends_recorded():
        site = CallSite(role=ROLE, run_id=run_id)
        answer, read = run_job(_converse(chat, tools, _system(now), question, site))
        run.finished(chat.totals, degraded=False)
    cited = [n for n in dict.fromkeys(int(m) for m in _CITED.findall(answer)) if n in read]
    return AskResult(question=question, mode="live", answer=answer, cited=cited, run_id=run_id)


def _system(now: datetime) -> str:
    """SYSTEM with the day it is asked on and the session "yesterday" means: the model knew neither, so a relative
    day was its guess (asked on a Monday, "yesterday" is Friday's session, not Sunday)."""
    today = new_york_date(now)
    previous = TradingCalendar().previous_session(today)
    return (
        f"{SYSTEM} It is now {now.astimezone(NEW_YORK):%A %Y-%m-%d %H:%M} in New York; events are stamped in UTC. "
        f'Asked of the market, "yesterday" is the previous trading session, {previous:%A %Y-%m-%d}. {week_words(now)}'
    )


async def _converse(
    chat: ToolChat, tools: ReadOnlyEvents, system: str, question: str, site: CallSite
) -> tuple[str, set[int]]:
    """The model's final text and the ids of every event the tools showed it."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    specs = tools.specs()
    read: set[int] = set()
    for _ in range(MAX_TURNS):
        turn = await chat.turn(messages, specs, site)
        if not turn.calls:
            return turn.content or "", read
        messages.append(turn.message)
        for call in turn.calls:
            try:
                result: Any = tools.call(call.name, call.arguments)
            except ToolRefused as exc:
                result = {"error": str(exc)}
            except psycopg.Error as exc:  # PostgreSQL's refusals (read-only, timeout): the model is told
                result = {"error": f"{type(exc).__name__}: {exc}"}
            read |= set(_ids(result))
            messages.append({"role": "tool", "tool_call_id": call.id, "content": json.dumps(result, default=str)})
    messages.append({"role": "user", "content": "Answer now from what you have read, citing event ids."})
    turn = await chat.turn(messages, [], site)
    return turn.content or "", read


def _ids(found: Any) -> list[int]:
    """Every event id in a tool's result (rows carry `id` beside `type` and `stream`)."""
    if isinstance(found, dict):
        own = [found["id"]] if isinstance(found.get("id"), int) and "stream" in found else []
        return own + [i for value in found.values() for i in _ids(value)]
    if isinstance(found, list):
        return [i for value in found for i in _ids(value)]
    return []
