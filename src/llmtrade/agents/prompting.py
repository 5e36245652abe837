"""Turning a rendered prompt into the messages a chat model receives."""

from __future__ import annotations

from llmtrade.llm.types import ChatMessage
from llmtrade.prompts.renderer import RenderedPrompt


def as_messages(prompt: RenderedPrompt) -> tuple[ChatMessage, ChatMessage]:
    return (ChatMessage(role="system", content=prompt.system), ChatMessage(role="user", content=prompt.user))
