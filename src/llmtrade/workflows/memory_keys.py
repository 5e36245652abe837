"""The context keys the memory stages write and the committee stages read (a module of their own, so
committee_stages.py can read them without importing the memory stages, which read its keys)."""

from __future__ import annotations

from llmtrade.domain.memory import Recollection, SetupFlag
from llmtrade.pipeline.context import ContextKey

MEMORY_NOTES = ContextKey("memory_notes", dict[str, tuple[str, ...]])  # PM id -> "Similar past setups" lines
FLAGS = ContextKey("setup_flags", list[SetupFlag])  # the validator's, for the chairman
# What recall shows that the research does not decide, read ahead alongside the research (recall_ahead): the
# past weeks most like this one (key ""), and the latest notes per universe instrument (key: the instrument).
RECALLED_AHEAD = ContextKey("recalled_ahead", dict[str, tuple[Recollection, ...]])
