"""Turning a rendered prompt into the messages a chat model receives."""

from __future__ import annotations

from llmtrade.domain.records import assembled
from llmtrade.llm.types import ChatMessage
from llmtrade.memo import IdentityMemo
from llmtrade.prompts.renderer import RenderedPrompt


def as_messages(prompt: RenderedPrompt) -> tuple[ChatMessage, ChatMessage]:
    return (_SYSTEM.of(prompt.system, _system), message("user", prompt.user))


def message(role: str, content: str) -> ChatMessage:
    """`ChatMessage(role=role, content=content)`, built unvalidated when both are already what it keeps (a str content,
    a role it allows): a backtest sends some 20,000 messages, two per ask."""
    if role in _ROLES and type(content) is str:
        return assembled(ChatMessage, {"role": role, "content": content}, {"role", "content"})
    return ChatMessage(role=role, content=content)  # type: ignore[arg-type]  # validated: refused as it refuses


_ROLES = frozenset(("system", "user", "assistant"))


def _system(content: str) -> ChatMessage:
    return message("system", content)


# A role's system prompt is one text object per template (the renderer keeps a plain-text template's text; the
# checkpoint's is read once per checkpoint): its message is made once per text object. A frozen record of a str.
_SYSTEM: IdentityMemo[str, ChatMessage] = IdentityMemo(64)
