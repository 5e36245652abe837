"""Errors of an answer a model provider gave that cannot be used as one (cut off, empty, withheld, an error inside a
200): each carries what came back, so the call's event keeps it. Beside errors.py, whose families they join
(OperationalError: final for the run; TemporaryError: worth asking again)."""

from __future__ import annotations

from llmtrade.errors import LlmtradeError, OperationalError, TemporaryError


class LLMBadReply(LlmtradeError):
    """A provider answered, but the answer cannot be used as one. Carries what came back (partial text,
    reasoning, finish reason, token counts) so the call's event keeps it, and the provider's own reason."""

    attempts = 1  # as LLMUnavailable's
    cut_off = 0  # as LLMUnavailable's
    billed: tuple = ()  # as LLMUnavailable's

    def __init__(
        self,
        message: str,
        *,
        content: str = "",
        reasoning: str | None = None,
        finish_reason: str | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        cost_usd: float | None = None,
        usage_reported: bool = True,
    ):
        self.content = content
        self.usage_reported = usage_reported  # False: the reply gave no usage, its cost is unknown
        self.reasoning = reasoning
        self.finish_reason = finish_reason
        self.prompt_tokens = prompt_tokens
        self.completion_tokens = completion_tokens
        self.cost_usd = cost_usd
        super().__init__(message)


class LLMTruncated(LLMBadReply, OperationalError):
    """The answer was cut at max_tokens (finish_reason "length"): what came is not the whole answer."""


class LLMContextExceeded(LLMBadReply, OperationalError):
    """The prompt and the answer filled the model's context window (finish_reason model_context_window_exceeded), or a
    400 said the prompt does not fit it ("maximum context length is N tokens", "prompt is too long"): asking again
    with a larger max_tokens cannot help, the same prompt fills it again; final for this run, but mended by a
    shorter prompt, so never held for a rerun (pipeline/retry.holdable)."""


class LLMContentFiltered(LLMBadReply, OperationalError):
    """The provider withheld the answer (finish_reason "content_filter") or the model refused."""


class LLMUpstreamError(LLMBadReply, TemporaryError):
    """An error inside an HTTP 200 body (OpenRouter relays a provider's failure that way, mid-answer or
    instead of any choice): the same request may succeed later."""


class LLMEmptyAnswer(LLMBadReply, OperationalError):
    """No answer text at all (content null or blank, or only a think block)."""


class LLMNoChoice(LLMUpstreamError):
    """A 200 whose `choices` is an empty list, nothing generated, no error and no reason. Gemini returns no candidate
    only for a prompt it blocked ("no candidates are returned only if there was something wrong with the prompt (see
    promptFeedback)", its GenerateContentResponse), and Google's OpenAI-compatible endpoint does not pass that
    promptFeedback on; a proxy may also drop a candidate that ended with no content. Asked once more within the call
    (llm/http_client.py, llm/tool_chat.py), then final for the prompt (`blocked`), never a wait run after run."""

    def blocked(self) -> LLMContentFiltered:
        """The refusal a second reply with no choice is: final for this prompt, with what came back."""
        return LLMContentFiltered(
            f"{self}; asked once more, and again no choice: read as the prompt blocked by the provider's safety filter "
            "(Gemini answers with no candidate only for a prompt it blocked; its OpenAI-compatible endpoint drops the "
            "promptFeedback.blockReason that names why): final for this prompt, not retried in later runs; reword "
            "the prompt (a prompt override) or use another model for the role",
            content=self.content,
            reasoning=self.reasoning,
            finish_reason=self.finish_reason,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            cost_usd=self.cost_usd,
            usage_reported=self.usage_reported,
        )
