"""Whether a chat completion's 200 body holds an answer to take, to ask again for, or a final failure.

`usable_reply` reads the body through the reply normaliser (llm/replies.py) and decides what the chat client
(llm/http_client.py) does with it: an answer is returned; an upstream's failure inside the 200 (LLMUpstreamError, but
not LLMNoChoice, which the client asks once more itself) and an empty answer with nothing generated are raised as
Retryable, asked again within the call, each billed on `tally` at what it reported; an answer to a prompt the server cut
to fit its window is LLMContextExceeded (llm/prompt_cut.py), never taken; any other LLMBadReply is raised as it is.
"""

from __future__ import annotations

from typing import Any

from llmtrade.llm.call_records import BilledAttempts, spent_by
from llmtrade.llm.http_errors import Retryable
from llmtrade.llm.prompt_cut import refuse_cut
from llmtrade.llm.replies import NormalReply, normalise_reply, nothing_generated
from llmtrade.reply_errors import LLMEmptyAnswer, LLMNoChoice, LLMTruncated, LLMUpstreamError


def usable_reply(
    data: Any,
    *,
    provider: str,
    model: str,
    reasoning_as_answer: bool,
    context: int | None,
    tally: BilledAttempts,
    least: int,
    sent: int | None = None,
) -> NormalReply:
    """The answer in `data`. An upstream's failure in it (LLMUpstreamError) is asked again within the call, billed
    at what it reported, and so is an empty one with nothing generated: a model warming up or its provider scaling
    (openrouter.ai/docs/api-reference/errors, "When No Content is Generated"). An answer to a prompt the server
    cut to fit its window (`context` tokens; `least`, a floor of the prompt's) is LLMContextExceeded, never taken."""
    try:
        normal = normalise_reply(data, provider=provider, model=model, reasoning_as_answer=reasoning_as_answer)
    except LLMTruncated as exc:  # cut at max_tokens as the window filled: the prompt's start shifted out too
        refuse_cut(data, spent_by(exc), least, context, provider, model, exc)
        raise
    except LLMUpstreamError as exc:
        if isinstance(exc, LLMNoChoice):
            raise  # asked once more, then final (http_client `send`): not a wait
        # An error in the 200 naming no status, a choice ended by "error" or another upstream stop: the upstream's
        # transient failure (openrouter.ai/docs/api-reference/errors), asked again as an in-body 5xx is.
        tally.bill(spent_by(exc))
        raise Retryable(str(exc)) from None
    except LLMEmptyAnswer as exc:
        if not nothing_generated(exc):
            raise
        tally.bill(spent_by(exc))
        raise Retryable(f"{exc}, nothing generated (no completion token)") from None
    refuse_cut(data, normal.usage, least, context, provider, model, normal)
    refuse_unsaid_cut(normal, sent, provider, model)
    return normal


# The words of a stop that a server may put where the limit cut the answer (LocalAI's "stop": mudler/LocalAI#3533;
# litellm's Ollama route, which never read done_reason: BerriAI/litellm#25825), or no word at all.
_SAID_STOP = frozenset({None, "stop", "eos", "end_turn"})


def refuse_unsaid_cut(normal: NormalReply, sent: int | None, provider: str, model: str) -> None:
    """Raise LLMTruncated for an answer of exactly the `sent` max_tokens whose finish reason says it stopped: the
    limit cut it, whatever the server said (a text that ended of itself on the limit's very token is as rare as it is
    harmless to ask again). A cut answer is never taken; a structured one is asked again with room to finish."""
    finish = normal.finish_reason.strip().lower() if normal.finish_reason is not None else None
    usage = normal.usage
    if sent is None or not usage.reported or usage.completion_tokens != sent or finish not in _SAID_STOP:
        return
    said = f"said finish_reason {normal.finish_reason}" if normal.finish_reason is not None else "gave no finish_reason"
    raise LLMTruncated(
        f"{provider} ({model}) wrote exactly its max_tokens ({sent} completion tokens) and {said}: cut off at "
        f"max_tokens all the same ({len(normal.text)} characters of answer), the answer is incomplete",
        content=normal.text,
        reasoning=normal.reasoning,
        finish_reason=normal.finish_reason,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        cost_usd=usage.cost_usd,
        usage_reported=usage.reported,
    )
