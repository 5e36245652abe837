"""What an /embeddings refusal says about the request's size: an input too long, or a batch too big.

A model takes inputs of a limited length (OpenAI's 8,192 tokens; 512 for the bge and MiniLM models vLLM, TEI and
Ollama serve) and the server refuses a longer one, in its own words: OpenAI's and vLLM's 400 "This model's maximum
context length is 512 tokens. However, you requested 1451 tokens ..." (vllm-project/vllm issue 19798), TEI's 413
"Input validation error: `inputs` must have less than 512 tokens. Given: 534" (text-embeddings-inference issue 356),
Gemini's "The input token count (N) exceeds the maximum number of tokens allowed (M)", Ollama's 400 "the input length
exceeds the context length" (no numbers). The memory's texts (a research note on an instrument: thesis, risks and
invalidation, up to some 18,000 characters) can be longer, and the same text is refused on every rerun: such an input
is embedded cut to fit instead (llm/embeddings.py). The tokenizer is the server's, unknown here: the text is cut by
characters, to the share the numbers named (with a margin), else to half, until the server takes it.

A server also takes a limited batch: TEI as many inputs as its --max-client-batch-size (32 by default; a 413 "batch
size 256 > maximum allowed batch size 32", text-embeddings-inference issue 378), Azure OpenAI's early deployments 16
("Too many inputs. The max number of inputs is 16."), DashScope 10 or 25 ("batch size is invalid, it should not be
larger than 10"), Gemini 100 ("at most 100 requests can be in one batch"), OpenAI 300,000 tokens together ("Requested
453357 tokens, max 300000 tokens per request", spiceai/spiceai issue 6142), a proxy a body of so many bytes (a bare
413). The memory asks up to 256 texts at once (`memory rebuild` after a change of model re-embeds every stored one):
such a batch is sent in smaller ones instead, of the size named (kept for the client's later batches), else halved.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

# (pattern, group of the model's limit, group of the input's tokens); the groups are None where the words name none.
_INPUT_TOO_LONG: tuple[tuple[re.Pattern[str], int | None, int | None], ...] = (
    (re.compile(r"maximum context length is (\d+) tokens\W+however,? you requested (\d+) tokens", re.I), 1, 2),
    (re.compile(r"must have less than (\d+) tokens\. Given: (\d+)", re.I), 1, 2),
    (re.compile(r"input token count \(?(\d+)\)? exceeds the maximum number of tokens allowed \(?(\d+)\)?", re.I), 2, 1),
    (re.compile(r"maximum context length is (\d+)|input length exceeds the context length", re.I), None, None),
)
# (pattern, group of the most inputs a batch takes, or None where the limit is of tokens or bytes, not inputs).
_BATCH_TOO_BIG: tuple[tuple[re.Pattern[str], int | None], ...] = (
    (re.compile(r"maximum allowed batch size (\d+)", re.I), 1),
    (re.compile(r"max(?:imum)? number of inputs is (\d+)", re.I), 1),
    (re.compile(r"batch size is invalid, it should not be larger than (\d+)", re.I), 1),
    (re.compile(r"at most (\d+) (?:requests|inputs|texts) can be in one batch", re.I), 1),
    (re.compile(r"tokens per request|max_tokens_per_request|tokens per submitted batch|too many inputs", re.I), None),
)
_MOST_INPUTS = 2048  # OpenAI's limit of inputs a request; a server's own smaller one is learned from its refusal
_MARGIN = 0.9  # the tokens of a text's start are not proportional to its characters: cut a little more
_SHORTEST = 16  # characters: a text cut to fewer than this is not worth a vector, and the refusal stands


class InputTooLong(Exception):
    """A 4xx refusing one input of the request for its length. `refused`: what the refusal means otherwise
    (llm/http_errors.refusal), raised when no shorter text helps; `most`, `asked`: the model's input length and the
    input's tokens, where the words name them."""

    def __init__(self, refused: Exception, *, most: int | None, asked: int | None) -> None:
        super().__init__(str(refused))
        self.refused = refused
        self.most = most
        self.asked = asked


class BatchTooBig(Exception):
    """A 4xx refusing the request for the number of its inputs (`most`: the most the server takes, where named) or
    for their tokens or bytes together. `refused`: what the refusal means otherwise, raised for a single input."""

    def __init__(self, refused: Exception, *, most: int | None) -> None:
        super().__init__(str(refused))
        self.refused = refused
        self.most = most


def too_big(status: int, reason: str, body: str, inputs: int, refused: Exception) -> InputTooLong | BatchTooBig | None:
    """The refusal (HTTP `status`, its `reason` shown and its whole `body`) of a request of `inputs` texts as
    InputTooLong when it says an input is past the model's input length, BatchTooBig when it says the batch is too
    big (a bare 413: too many bytes, of several inputs), else None."""
    if status not in (400, 413, 422):
        return None
    said = f"{reason}\n{body[:10000]}"
    found_long = _input_too_long(said, refused)
    if found_long is not None:
        return found_long
    for pattern, most in _BATCH_TOO_BIG:
        found = pattern.search(said)
        if found:
            return BatchTooBig(refused, most=int(found.group(most)) if most else None)
    if status == 413:
        return BatchTooBig(refused, most=None) if inputs > 1 else InputTooLong(refused, most=None, asked=None)
    return None


def _input_too_long(said: str, refused: Exception) -> InputTooLong | None:
    for pattern, most, asked in _INPUT_TOO_LONG:
        found = pattern.search(said)
        if found:
            return InputTooLong(
                refused,
                most=int(found.group(most)) if most else None,
                asked=int(found.group(asked)) if asked else None,
            )
    return None


def shortened(text: str, refusal: InputTooLong) -> str | None:
    """`text`'s start, short enough by what `refusal` named (else half of it); None when that leaves too little."""
    share = 0.5
    if refusal.most and refusal.asked and refusal.asked > refusal.most:
        share = refusal.most / refusal.asked * _MARGIN
    keep = int(len(text) * share)
    return text[:keep] if keep >= _SHORTEST else None


@dataclass(frozen=True)
class Part:
    """The vectors of some of a request's texts, in order, with what their reply reported."""

    vectors: list[list[float]]
    prompt_tokens: int
    cost_usd: float | None
    truncated: int = 0  # inputs embedded cut to fit
    served: str | None = None  # the model the reply names (llm/embedding_identity.py)


class Batches:
    """Texts sent the way one server takes them: in requests of at most `most_inputs` (learned from a refusal that
    names the server's limit, and kept for the client's later requests)."""

    def __init__(self) -> None:
        self.most_inputs = _MOST_INPUTS

    def fitted(self, texts: list[str], once: Callable[[list[str]], Part]) -> list[Part]:
        """`texts`' vectors in parts, in order, `once` asking for a batch. A batch is sent in ones of the most inputs
        the server was found to take; one it refuses as too big in ones of the size it named, else in halves; one
        holding an input past the model's length in halves until that input is asked alone, and then cut to fit."""
        size = self.most_inputs
        if len(texts) > size:
            return [
                part for start in range(0, len(texts), size) for part in self.fitted(texts[start : start + size], once)
            ]
        try:
            return [once(texts)]
        except BatchTooBig as refusal:
            if len(texts) == 1:
                raise refusal.refused from None
            if refusal.most is not None and refusal.most < len(texts):
                self.most_inputs = max(refusal.most, 1)  # the server's own limit: every later batch within it
                return self.fitted(texts, once)
            return self._halves(texts, once)
        except InputTooLong as refusal:
            if len(texts) > 1:
                return self._halves(texts, once)
            text, why = texts[0], refusal
        while True:
            shorter = shortened(text, why)
            if shorter is None:
                raise why.refused from None
            try:
                return [replace(once([shorter]), truncated=1)]
            except InputTooLong as again:
                text, why = shorter, again

    def _halves(self, texts: list[str], once: Callable[[list[str]], Part]) -> list[Part]:
        half = len(texts) // 2
        return self.fitted(texts[:half], once) + self.fitted(texts[half:], once)
