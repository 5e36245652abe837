"""A prompt the server cut to fit its context window without a word: Ollama truncates a prompt past its num_ctx (its
log alone says "truncating input prompt" limit=2048 prompt=3940 keep=5 new=2048: ollama/ollama#3839, #10368) and, when
the answer then fills the window, shifts the prompt's start out; its OpenAI-compatible endpoint takes no num_ctx and
answers 200. The answer is to another prompt than the one sent, so it is never taken (llm/http_client.py).

What can be seen. With the window configured (models.yaml `context_tokens`): a prompt whose size alone (a floor of its
tokens, `least_prompt_tokens`) passes it, or prompt and completion tokens that reach it. Without it, from Ollama
(`system_fingerprint` "fp_ollama"): a count reported below that floor that sits exactly at a window Ollama uses (prompt
and completion at 4096, the prompt at 2048, or at half a window plus 2: ollama/ollama#17427, #17889). A reported count
below the floor alone is no sign: Ollama counts only the prompt tokens it evaluated, and a prefix it kept from the
last request (its prompt cache) is not among them, so a count far below the prompt's is what a cached prefix gives."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from llmtrade.llm.replies import NormalReply, parse_usage
from llmtrade.llm.types import Usage
from llmtrade.reply_errors import LLMBadReply, LLMContextExceeded

Came = NormalReply | LLMBadReply  # an answer, or a reply refused as one (cut at max_tokens)

# More bytes a token than any tokenizer averages over a prompt llmtrade sends (English prose is about 4, JSON less):
# the prompt's bytes over this are a floor of its tokens, never above the count a server would give the whole prompt.
_MOST_BYTES_PER_TOKEN = 6
# The context lengths Ollama runs with: its defaults by memory (2048 in older releases, 4096, 32768, 262144) and the
# powers of two people set.
_WINDOWS = frozenset(2**k for k in range(11, 19))
_HALVED = frozenset(w // 2 + 2 for w in _WINDOWS)


def least_prompt_tokens(texts: Iterable[str]) -> int:
    """A floor of the tokens of a prompt whose messages' texts are `texts`, by its size (`_MOST_BYTES_PER_TOKEN`)."""
    return math.floor(sum(len(text.encode()) for text in texts) / _MOST_BYTES_PER_TOKEN)


def prompt_cut(data: Any, usage: Usage, least: int, window: int | None) -> str | None:
    """Why the prompt reads as cut to fit the context window (see the module docstring), else None."""
    prompt, completion = usage.prompt_tokens, usage.completion_tokens
    if window is not None:
        if least > window:
            return f"the prompt is at least {least} tokens by its size, past the {window}-token context window"
        if usage.reported and prompt + completion >= window:
            return f"{prompt} prompt and {completion} completion tokens reach the {window}-token context window"
        return None
    fingerprint = data.get("system_fingerprint") if isinstance(data, dict) else None
    if fingerprint != "fp_ollama" or not usage.reported or prompt >= least:
        return None
    if prompt + completion in _WINDOWS or prompt in _WINDOWS or prompt in _HALVED:
        return (
            f"Ollama counted {prompt} prompt and {completion} completion tokens, at a context window it uses, for a "
            f"prompt of at least {least} tokens by its size"
        )
    return None


def called(data: Any) -> NormalReply:
    """What a turn whose answer is its tool calls brought (its text, if any, beside them), for refuse_cut to keep."""
    choice = data["choices"][0]
    content = choice["message"].get("content")
    return NormalReply(
        text=content if isinstance(content, str) else "",
        usage=parse_usage(data),
        finish_reason=choice.get("finish_reason"),
    )


def refuse_cut(data: Any, usage: Usage, least: int, window: int | None, provider: str, model: str, came: Came) -> None:
    """Raise LLMContextExceeded (final for the run, mended by a larger window or a shorter prompt), keeping what `came`
    back, when the reply reads as one to a prompt cut to fit (`prompt_cut`)."""
    why = prompt_cut(data, usage, least, window)
    if why is None:
        return
    raise LLMContextExceeded(
        f"{provider} ({model}) answered a prompt cut to fit its context window ({why}; Ollama truncates a prompt past "
        "num_ctx without an error): the answer is not taken; give the server a larger context (Ollama: "
        "OLLAMA_CONTEXT_LENGTH, or num_ctx in a Modelfile: its OpenAI-compatible endpoint takes none), set it as "
        f"context_tokens for provider {provider} in models.yaml, or shorten the prompt (models.yaml "
        "memory.token_budget)",
        content=came.text if isinstance(came, NormalReply) else came.content,
        reasoning=came.reasoning,
        finish_reason=came.finish_reason,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=usage.cost_usd,
        usage_reported=usage.reported,
    )
