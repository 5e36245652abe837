"""Concurrent calls whose failures are expected: run them all, keep the answers, collect the failures.

An LlmtradeError (a provider down, an answer still invalid after repair) fails one member, not the
committee; a RunStopped (a budget spent, a prompt template that does not render) ends the run and is raised, as is
any other exception (a bug). With `prompt_fails_one`, a PromptError fails its member only: where stopping the run
would hold back what needs no template (a checkpoint's invalidation-rule exits, a postmortem closing its week).
With `hold_on_stop`, a RunStopped is returned among the failures as MemberStopped instead of raised: every call has
come back by then, so the caller can keep the answers the other members gave (paid for, with a live model) before
it raises the stop (pipeline/retry.settle), and a rerun asks only who has none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from typing import TypeVar

from llmtrade.errors import LlmtradeError, PromptError, RunStopped

K = TypeVar("K")
V = TypeVar("V")


class MemberStopped(LlmtradeError):
    """One member's RunStopped, handed back by gather_settled(hold_on_stop=True) for its caller to raise once it
    has kept the others' answers. Never one member's final failure: a caller must not freeze it (`first_stop`)."""

    def __init__(self, stop: RunStopped):
        super().__init__(str(stop))
        self.stop = stop
        self.exit_code = stop.exit_code


def first_stop(errors: Iterable[LlmtradeError]) -> RunStopped | None:
    """The stop among a fan-out's `errors` (the first member's), or None: what a hold_on_stop caller raises after
    keeping the answers."""
    return next((error.stop for error in errors if isinstance(error, MemberStopped)), None)


async def gather_settled(
    keys: Sequence[K], calls: Sequence[Awaitable[V]], *, prompt_fails_one: bool = False, hold_on_stop: bool = False
) -> tuple[list[tuple[K, V]], list[tuple[K, LlmtradeError]]]:
    results = await asyncio.gather(*calls, return_exceptions=True)
    answered: list[tuple[K, V]] = []
    failed: list[tuple[K, LlmtradeError]] = []
    stops: list[tuple[K, RunStopped]] = []
    for key, result in zip(keys, results, strict=True):
        if isinstance(result, RunStopped) and not (prompt_fails_one and isinstance(result, PromptError)):
            stops.append((key, result))
        elif isinstance(result, LlmtradeError):
            failed.append((key, result))
        elif isinstance(result, BaseException):
            raise result
        else:
            answered.append((key, result))
    if stops and not hold_on_stop:
        raise stops[0][1]
    return answered, [*failed, *((key, MemberStopped(stop)) for key, stop in stops)]
