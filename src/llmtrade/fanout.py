"""Concurrent calls whose failures are expected: run them all, keep the answers, collect the failures.

An LlmtradeError (a provider down, an answer still invalid after repair) fails one member, not the
committee; a RunStopped (a budget spent, a prompt template that does not render) ends the run and is raised, as is
any other exception (a bug). With `prompt_fails_one`, a PromptError fails its member only: where stopping the run
would hold back what needs no template (a checkpoint's invalidation-rule exits, a postmortem closing its week).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import TypeVar

from llmtrade.errors import LlmtradeError, PromptError, RunStopped

K = TypeVar("K")
V = TypeVar("V")


async def gather_settled(
    keys: Sequence[K], calls: Sequence[Awaitable[V]], *, prompt_fails_one: bool = False
) -> tuple[list[tuple[K, V]], list[tuple[K, LlmtradeError]]]:
    results = await asyncio.gather(*calls, return_exceptions=True)
    answered: list[tuple[K, V]] = []
    failed: list[tuple[K, LlmtradeError]] = []
    for key, result in zip(keys, results, strict=True):
        if isinstance(result, LlmtradeError) and (
            not isinstance(result, RunStopped) or (prompt_fails_one and isinstance(result, PromptError))
        ):
            failed.append((key, result))
        elif isinstance(result, BaseException):
            raise result
        else:
            answered.append((key, result))
    return answered, failed
