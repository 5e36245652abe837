"""Only final failures are frozen into the week: a stage's roles that failed for a temporary reason are retried.

A week's stage asks several roles (research providers, PMs, reviewers, owners) and freezes what they
said into its write-once stream (pipeline/frozen.py). Some failures are final: an answer still invalid
after its repair, a request the provider refused, a truncated or filtered answer. Others are temporary
(the TemporaryError family: a provider unreachable, a timeout, a 429, a 5xx, an upstream error relayed
inside a 200) and must not be frozen: the same question may be answered in ten minutes.

`settle` asks the roles a stage still needs and sorts what came back:
- before the stage's deadline, temporary failures stop the stage: the answers it did get are appended to
  the stage's held stream (AnswerHeld), with StageDeferred naming the roles it waits for, and a
  TemporaryError (exit 75) is raised. Nothing final is stored, so a rerun (or the next `run-due`)
  settles again: it takes the held answers as they are and asks only the roles without one, so no
  answered role is paid for twice. The roles that failed for good in the same fan-out (a truncated or
  empty answer, one still invalid after its repair: paid for too) are held as well (FailureHeld) and
  named beside the waiting ones: the rerun takes their failure as it is, never asking them again;
- at or after the deadline the temporary failures are final too: the stage goes on without those roles
  and returns them as `missing`, for the stage to store InputsMissing and name them in the report;
- whatever the deadline, a role that stopped the run (a RunStopped its fan-out handed back as MemberStopped,
  fanout.gather_settled(hold_on_stop=True): its prompt did not render, the budget is spent) stops the stage: the
  answers the others gave are held as above and the stop is raised, so the rerun after the fix pays for none again;
- a held answer is reused only by a run that asks with what it was asked with (`basis`: the prompt templates' texts
  and the stage's models, `asked_with`): after a PromptError the user edits the template, and a rerun that took the
  answers the old template had brought, and asked the rest with the new one, would mix two prompts in one week's
  committee without a word. Such answers are asked again (paid again); those held before `basis` was kept are reused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Generic, TypeVar

from llmtrade.clock import Clock
from llmtrade.config.models import ModelRef
from llmtrade.domain.events import AnswerHeld, EventPayload, FailureHeld, InputsMissing, NewEvent, StageDeferred
from llmtrade.domain.streams import held_stream
from llmtrade.errors import LLMAuthRejected, LlmtradeError, OperationalError, TemporaryError, Waiting
from llmtrade.fanout import first_stop
from llmtrade.reply_errors import LLMContextExceeded
from llmtrade.storage.event_store import EventStore

P = TypeVar("P", bound=EventPayload)
# A stage's `basis` (`asked_with`), or None for a stage that keeps none.
Basis = Callable[[], str | None]


@dataclass(frozen=True)
class Window:
    """When a stage stops retrying: `deadline` (None: never) compared with the run's `now`, or, on the machine's own
    clock (`clock`, Clock.real), with that clock read when a stage asks: a run begun at 08:59:30 whose reviewer failed
    at 09:01 waited (exit 75) for a rerun "until 09:00", a deadline gone by. A chosen clock (LLMTRADE_NOW, a backtest's
    step) keeps the run's instant."""

    deadline: datetime | None
    now: datetime
    clock: Clock | None = None

    @property
    def open(self) -> bool:
        if self.deadline is None:
            return True
        now = max(self.now, self.clock.now()) if self.clock is not None and self.clock.real else self.now
        return now < self.deadline


@dataclass(frozen=True)
class Settled(Generic[P]):
    """What a stage has to freeze: `answers` (role key -> answer payload, in the order of the keys asked),
    `failed` (final failures: key -> error) and `missing` (temporary failures past the deadline)."""

    answers: dict[str, P]
    failed: dict[str, LlmtradeError]
    missing: dict[str, LlmtradeError]
    deadline: datetime | None

    def inputs_missing(self, stage: str) -> list[InputsMissing]:
        """The event naming the missing roles, or nothing when every role answered or failed for good."""
        if not self.missing:
            return []
        return [
            InputsMissing(
                stage=stage, missing=list(self.missing), errors=_reasons(self.missing), deadline=self.deadline
            )
        ]


class HeldFailure(OperationalError):
    """A role's final failure kept by an earlier run of the stage (FailureHeld), as the rerun settles it."""

    def __init__(self, error_type: str, message: str):
        super().__init__(message)
        self.error_type = error_type


def failure_type(error: BaseException) -> str:
    """The name of a role's failure for its record: the original error's, for one held by an earlier run."""
    return error.error_type if isinstance(error, HeldFailure) else type(error).__name__


def holdable(error: BaseException) -> bool:
    """A final failure a rerun takes as it is (FailureHeld): not a temporary one (asked again), not a refused key
    or account (LLMAuthRejected, 401/403, and LLMNoEndpoint, 404: fixed by the user, then asked again), and not a
    prompt past the model's context window (LLMContextExceeded): what mends that (models.yaml memory.token_budget,
    the research and the universe the prompt shows) is not in the held `basis`, so held it outlived the fix."""
    return not is_temporary(error) and not isinstance(error, (LLMAuthRejected, LLMContextExceeded))


def is_temporary(error: BaseException) -> bool:
    """A failure worth asking again later (TemporaryError: unreachable, timeout, 429, 5xx, upstream error)."""
    return isinstance(error, TemporaryError)


def none_answered(message: str, failed: Mapping[str, LlmtradeError]) -> LlmtradeError:
    """A stage's failure when no role of it answered (`failed`: each role's error): temporary when every one was, and
    raised from the first final one, so a reader of the chain (a backtest's stop, app/backtest_stops.py) sees what it
    was (an invalid answer the replay cache keeps, a refused key), not only the joined words."""
    temporary = all(is_temporary(error) for error in failed.values())
    error = (TemporaryError if temporary else OperationalError)(message)
    error.__cause__ = next((e for e in failed.values() if not is_temporary(e)), None)
    return error


async def settle(
    events: EventStore,
    *,
    stage: str,
    stream: str,
    keys: Sequence[str],
    answer_type: type[P],
    ask: Callable[[list[str]], Awaitable[tuple[dict[str, P], dict[str, LlmtradeError]]]],
    window: Window,
    week_id: date,
    run_id: str,
    account_of: Callable[[str], str | None] = lambda _: None,
    basis: Callable[[], str] | None = None,
    needs_an_answer: bool = False,
) -> Settled[P]:
    """Ask the roles in `keys` that hold no answer on `stream`'s held stream; sort the outcome (module doc).

    `ask(keys)` returns (answers, failures) by key. Raises TemporaryError, after holding the new answers,
    while the window is open and a role failed for a temporary reason; raises a role's stop (MemberStopped among
    the failures) after holding them, whatever the window. `basis` (`asked_with`) is asked for only when an answer is
    held or one held is read: the common run, which holds none, does not read the templates for it. `needs_an_answer`:
    the stage stores nothing when no role answers ("every PM failed"), so when none did and none is waited for, the
    held final failures are asked again in the same run (no later run would ever ask them again)."""
    what: Basis = cache(basis) if basis is not None else _no_basis  # made at most once per settle
    held, held_failed = _held(events, stream, stage, answer_type, set(keys), what)
    todo = [key for key in keys if key not in held and key not in held_failed]
    fresh, failures = await ask(todo) if todo else ({}, {})
    waits = window.open and any(is_temporary(error) for error in failures.values())  # deferred: the holds stay
    if (
        needs_an_answer
        and held_failed
        and not held
        and not fresh
        and not waits
        and first_stop(failures.values()) is None
    ):
        again, again_failed = await ask(list(held_failed))
        fresh, failures, held_failed = {**fresh, **again}, {**failures, **again_failed}, {}
    stop = first_stop(failures.values())
    hold = {"week_id": week_id, "run_id": run_id, "account_of": account_of, "basis": what}
    if stop is not None:
        # One member's stop (a prompt that does not render, a budget spent) ends the run as before, but the others
        # answered, or failed for good (and were paid for): held, so the rerun after the fix asks only the rest.
        given_up = {k: e for k, e in failures.items() if first_stop([e]) is None and holdable(e)}
        _hold(events, stage, stream, fresh, given_up, [], **hold)  # type: ignore[arg-type]
        if held or fresh or held_failed or given_up:
            finals = len(held_failed) + len(given_up)
            also = f" and {finals} final failure(s)" if finals else ""
            kept = f"{stage}: kept {len(held) + len(fresh)} answer(s){also} for the rerun, which asks only the others"
            stop.add_note(f"{kept} (all, if a prompt template or a model is changed first)")
        raise stop
    temporary = {key: error for key, error in failures.items() if is_temporary(error)}
    final = {key: error for key, error in failures.items() if key not in temporary}
    if temporary and window.open:
        deferred = StageDeferred(
            stage=stage,
            waiting=list(temporary),
            errors=_reasons(temporary),
            deadline=window.deadline,
            failed=_reasons({**held_failed, **final}),
        )
        kept_final = {key: error for key, error in final.items() if holdable(error)}
        _hold(events, stage, stream, fresh, kept_final, [deferred], **hold)  # type: ignore[arg-type]
        until = f"until {window.deadline.isoformat()}" if window.deadline else "on every rerun"
        kept = f"; kept {len(held) + len(fresh)} answer(s) for the rerun" if held or fresh else ""
        given = {**held_failed, **kept_final}
        gone = (
            f"; failed for good, kept and not asked again: {', '.join(given)} ({'; '.join(_reasons(given))})"
            if given
            else ""
        )
        if refused := {key: error for key, error in final.items() if key not in kept_final}:
            gone += (
                "; refused, asked again once the key, account or model is fixed (or the prompt fits the context "
                f"window): {'; '.join(_reasons(refused))}"
            )
        raise Waiting(
            f"{stage}: waiting for {', '.join(temporary)} ({'; '.join(_reasons(temporary))}){gone}{kept}. "
            f"Nothing final was stored: a rerun asks them again {until}, then goes on without them"
        )
    answers = {**held, **fresh}
    return Settled(
        answers={key: answers[key] for key in keys if key in answers},
        failed={**held_failed, **final},
        missing=temporary,
        deadline=window.deadline,
    )


def _hold(
    events: EventStore,
    stage: str,
    stream: str,
    fresh: Mapping[str, P],
    failed: Mapping[str, LlmtradeError],
    then: Sequence[EventPayload],
    *,
    week_id: date,
    run_id: str,
    account_of: Callable[[str], str | None],
    basis: Basis,
) -> None:
    """The `fresh` answers (AnswerHeld) and the `failed` roles' final failures (FailureHeld) on `stream`'s held
    stream, one per role key, then `then`, in one append."""
    target = held_stream(stream)
    batch = [
        NewEvent.of(
            AnswerHeld(
                stage=stage,
                key=key,
                answer_type=answer.event_type(),
                answer_version=answer.schema_version,
                answer=answer.model_dump(mode="json"),
                basis=basis(),
            ),
            stream=target,
            week_id=week_id,
            run_id=run_id,
            account_id=account_of(key),
        )
        for key, answer in fresh.items()
    ]
    batch += [
        NewEvent.of(
            FailureHeld(stage=stage, key=key, error_type=failure_type(error), error=str(error), basis=basis()),
            stream=target,
            week_id=week_id,
            run_id=run_id,
            account_id=account_of(key),
        )
        for key, error in failed.items()
    ]
    batch += [NewEvent.of(payload, stream=target, week_id=week_id, run_id=run_id) for payload in then]
    if batch:
        events.append(batch)


def _no_basis() -> None:
    return None


def asked_with(templates: str, models: Iterable[ModelRef], providers: Mapping[str, str] | None = None) -> str:
    """A stage's `basis`: the prompt templates' fingerprint (PromptRenderer.fingerprint), what of each model can
    change its answer (as llm/wire.cache_key counts it) and what of its provider can (`providers`: the gateway's
    provider_settings: base URL, response formats, reasoning_as_answer), not the key (rotated after a 401), the
    budgets (raised to go on after a BudgetExceeded) nor timeouts (a 401/403/404 is never held: LLMAuthRejected)."""
    settings = providers or {}
    refs = sorted(
        {
            f"{m.provider}\x1f{m.model}\x1f{m.temperature!r}\x1f{m.max_tokens}\x1f{settings.get(m.provider, '')}"
            for m in models
        }
    )
    return hashlib.sha256("\x1e".join([templates, *refs]).encode()).hexdigest()


def _held(
    events: EventStore, stream: str, stage: str, answer_type: type[P], keys: set[str], basis: Basis
) -> tuple[dict[str, P], dict[str, LlmtradeError]]:
    """The answers and the final failures earlier stopped runs kept for `stage`, by key (the first one kept wins), of
    those asked with `basis` (or held before it was kept)."""
    found: dict[str, P] = {}
    failed: dict[str, LlmtradeError] = {}
    for event in events.read(stream=held_stream(stream), type=[AnswerHeld.event_type(), FailureHeld.event_type()]):
        if event.type == FailureHeld.event_type():
            gone = FailureHeld.from_event(event)
            if gone.stage == stage and gone.key in keys and gone.key not in failed and gone.basis == basis():
                failed[gone.key] = HeldFailure(gone.error_type, gone.error)
            continue
        held = AnswerHeld.from_event(event)
        if held.stage != stage or held.key not in keys or held.key in found:
            continue
        if held.answer_type != answer_type.event_type():
            continue
        if held.basis is not None and held.basis != basis():
            continue  # asked with other templates or models: asked again, not mixed with this run's
        found[held.key] = answer_type.model_validate(answer_type.upcast(held.answer, held.answer_version))
    return found, {key: error for key, error in failed.items() if key not in found}


def _reasons(errors: dict[str, LlmtradeError]) -> list[str]:
    return [f"{key}: {type(error).__name__}: {error}" for key, error in errors.items()]
