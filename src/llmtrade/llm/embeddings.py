"""Text vectors from OpenAI-compatible `/embeddings` endpoints (OpenAI, OpenRouter, vLLM, Ollama...).

`EmbeddingClient.post` sends one batch: `{"model", "input": [texts], "encoding_format": "float",
"dimensions"?}` and reads `{"data": [{"index", "embedding": [floats]}], "usage": {"prompt_tokens", "cost"?}}`.
The same error split as chat calls (llm/http_client.py): 408, 429 and 5xx (an HTTP status, or an in-body error's
code), timeouts and dropped connections are retried with backoff (honouring Retry-After) and end as LLMUnavailable
(exit 75); a quota or a wait beyond the cap is LLMRateLimited at once; 402 is LLMOutOfCredits at once (temporary:
add credits, or raise the key's limit); 401/403 LLMAuthRejected; any other 4xx is LLMRequestRejected with the
provider's reason (OpenRouter's error.metadata included). `timeout_seconds` bounds the wait for a first byte and
between reads; each attempt, body included, also has a whole deadline (`attempt_floor_seconds`, at least
`timeout_seconds`), so a server trickling keep-alive bytes for ever times out.
A 200 whose body is not one vector per input is EmbeddingMalformed, and so is a vector pgvector cannot hold (a value
NaN, infinite or beyond float32's range, all zeros, over 16,000 dimensions); vectors of the wrong size (in one batch,
against the configured size or the model's earlier vectors) are EmbeddingDimensionMismatch (all exit 1: asking again
gets the same answer). So is a 5xx whose body says the server could not write a NaN its model produced (Ollama's
bge-m3 answers 500 "json: unsupported value: NaN" for certain texts, every time): not retried. An input refused as
past the model's input length (a 400 or 413 saying so: llm/embedding_fit.py) is found in its batch and embedded cut
to fit, counted in the reply's `truncated`; a batch refused as too big (too many inputs, tokens or bytes together) is
sent in smaller ones, of the size the server named (kept for later batches), else halved; every other 4xx is final.

Waits between attempts are the chat calls' (llm/retry_policy.py RetryPolicy.wait); the cache and the records of each
batch are llm/cached_embeddings.py's `Embeddings`. Values are rounded to float32, what pgvector keeps.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx

from llmtrade.errors import LLMUnavailable
from llmtrade.llm.body_errors import body_error, error_detail
from llmtrade.llm.embedding_fit import Batches, Part, too_big
from llmtrade.llm.embedding_identity import EmbeddingDimensionMismatch, served_model
from llmtrade.llm.embedding_vectors import EmbeddingMalformed, reply_vectors
from llmtrade.llm.error_codes import error_status
from llmtrade.llm.http_errors import (
    Retryable,
    body_text,
    error_text,
    limit_source_of,
    refusal,
)
from llmtrade.llm.replies import parse_usage
from llmtrade.llm.retry_policy import RetryPolicy
from llmtrade.llm.tls import shared_tls_context

# Headers of the encoding httpx already undid while reading the stream: not carried to the reply rebuilt from it.
_DECODED = frozenset({"content-encoding", "content-length", "transfer-encoding"})
# A NaN the server's model made and its JSON writer refused (Ollama: "json: unsupported value: NaN"): the same text
# makes it on every attempt (ollama/ollama issues 14657, 15582), so that 5xx is final, not an outage.
_NAN_REPLY = re.compile(r"unsupported value: [+-]?(NaN|Inf)", re.IGNORECASE)


@dataclass(frozen=True)
class EmbeddingReply:
    vectors: list[list[float]]  # one per input, in input order, float32 values
    prompt_tokens: int
    cost_usd: float | None
    attempts: int
    latency_ms: float
    truncated: int = 0  # inputs past the model's length, embedded cut to fit (llm/embedding_fit.py)
    served: tuple[str, ...] = ()  # the models the replies named, each once (llm/embedding_identity.py)


class EmbeddingClient:
    """One provider's `/embeddings` endpoint, synchronous (the memory's reads and writes are)."""

    def __init__(
        self,
        name: str,
        base_url: str,
        api_key: str | None,
        *,
        timeout_seconds: float = 60.0,
        max_retries: int = 4,
        max_total_seconds: float = 300.0,
        max_retry_after_seconds: float = 120.0,
        attempt_floor_seconds: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._timeout = timeout_seconds
        # The chat calls' limits and waits (llm/retry_policy.py); the loop stays here: its total time counts from the
        # start of the whole post, across the smaller batches a refusal splits it into, not from each batch's first try.
        self._policy = RetryPolicy(max_retries, max_total_seconds, max_retry_after_seconds)
        # A batch of texts has no max_tokens to size it by: the attempt's whole deadline is the floor.
        self._deadline = max(attempt_floor_seconds, timeout_seconds)
        self._sleep = sleep
        self._http: httpx.Client | None = None
        self._requests = 0  # sent, every attempt counted: a reply's `attempts` is its requests
        self._batches = Batches()  # how the server takes texts: the most inputs a request, learned from a refusal

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def post(self, model: str, texts: Sequence[str], *, dimensions: int | None = None) -> EmbeddingReply:
        """Vectors for `texts`, retrying temporary failures; an input past the model's length is embedded cut to fit
        and a batch too big is sent in smaller ones (llm/embedding_fit.py). Raises the errors in the module
        docstring."""
        started = time.perf_counter()
        sent = self._requests
        try:
            parts = self._batches.fitted(list(texts), lambda chunk: self._once(model, chunk, dimensions, started))
            vectors = [v for part in parts for v in part.vectors]
            self._one_size(model, vectors, dimensions)
        except Exception as exc:  # the requests sent before it failed (retries, smaller batches): its event's count
            exc.attempts = self._requests - sent  # type: ignore[attr-defined]
            raise
        costs = [part.cost_usd for part in parts if part.cost_usd is not None]
        return EmbeddingReply(
            vectors=vectors,
            prompt_tokens=sum(part.prompt_tokens for part in parts),
            cost_usd=sum(costs) if costs else None,
            attempts=self._requests - sent,
            latency_ms=(time.perf_counter() - started) * 1000,
            truncated=sum(part.truncated for part in parts),
            served=tuple(dict.fromkeys(part.served for part in parts if part.served)),
        )

    def _one_size(self, model: str, vectors: list[list[float]], dimensions: int | None) -> None:
        sizes = {len(v) for v in vectors}
        if len(sizes) > 1 or (dimensions is not None and sizes != {dimensions}):
            want = f"{dimensions}" if dimensions is not None else "one size"
            # One size, not the one asked: a server that answers with the model's own size (Ollama, LM Studio,
            # llama.cpp's server; a model without Matryoshka training) whatever `dimensions` says.
            fix = (
                f": it does not give the size asked; set dimensions: {next(iter(sizes))} in models.yaml's "
                "memory.embedding, or remove it"
                if len(sizes) == 1
                else ""
            )
            raise EmbeddingDimensionMismatch(
                f"{self.name} returned vectors of {sorted(sizes)} dimensions from {model}, expected {want}{fix}"
            )

    def _once(self, model: str, texts: list[str], dimensions: int | None, started: float) -> Part:
        """One request for `texts`, retried while the failure is temporary."""
        body: dict[str, Any] = {"model": model, "input": texts, "encoding_format": "float"}
        if dimensions is not None:
            body["dimensions"] = dimensions
        attempts = 0
        while True:
            attempts += 1
            try:
                data = self._send(body, model)
                break
            except Retryable as exc:
                elapsed = time.perf_counter() - started
                if attempts > self._policy.max_retries or elapsed >= self._policy.max_total_seconds:
                    raise LLMUnavailable(
                        f"{self.name} did not embed with {model} after {attempts} attempt(s) in {elapsed:.1f} s: {exc}"
                    ) from None
                self._sleep(self._policy.wait(attempts, exc.retry_after))
        vectors = reply_vectors(data, len(texts), self.name, model)
        usage = parse_usage(data)  # a count or cost that is no number (NaN, text, negative) is unreported, not a crash
        return Part(vectors, usage.prompt_tokens, usage.cost_usd, served=served_model(data))

    def _send(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        if self._http is None:
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            verify: Any = shared_tls_context() if self.base_url.startswith("https:") else False
            self._http = httpx.Client(headers=headers, timeout=httpx.Timeout(self._timeout), verify=verify)
        self._requests += 1
        try:
            response = self._read(body)
        except httpx.TimeoutException:
            raise Retryable(f"no answer within {self._timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise Retryable(f"connection failed: {exc or type(exc).__name__}") from None
        status = response.status_code
        count = len(body["input"])
        if status >= 500 and _NAN_REPLY.search(response.text):
            raise EmbeddingMalformed(
                f"{self.name}'s {model} produced a NaN for one of {count} text(s) and could not send it "
                f"(HTTP {status}: {error_text(response)}); not retried: the same text fails the same way every "
                "time (a known fault of some models, Ollama's bge-m3 among them): use another embedding model "
                "(models.yaml memory.embedding)"
            )
        if status >= 300:  # a redirect too, never followed (http_errors.refusal)
            self._refused(
                status, error_text(response), response, model, f"HTTP {status}", limit_source_of(response), count
            )
        try:
            data = response.json()
        except ValueError:
            raise Retryable(f"HTTP {status} with a body that is not JSON: {body_text(response)!r}") from None
        error = body_error(data) if isinstance(data, dict) and not data.get("data") else None
        if error is not None:
            # OpenRouter relays an upstream failure inside a 200: its code decides as an HTTP status would.
            detail = error_detail(error)
            code = error_status(error) if isinstance(error, dict) else None
            limit = limit_source_of(error) if isinstance(error, dict) else None
            if code is None or code < 400:  # a word code, or none: an upstream failure, temporary as in chat
                code = 502
            self._refused(
                code,
                detail,
                response,
                model,
                f"HTTP 200 carrying error {error.get('code') if isinstance(error, dict) else error!r}",
                limit,
                count,
            )
        if not isinstance(data, dict):
            raise EmbeddingMalformed(f"{self.name} answered {model}'s embeddings with {json.dumps(data)[:200]}")
        return data

    def _read(self, body: dict[str, Any]) -> httpx.Response:
        """POST `body` and read the whole reply within the attempt's deadline (httpx's timeout is per read: a
        trickled keep-alive would hold the attempt for ever)."""
        assert self._http is not None
        ends = time.monotonic() + self._deadline
        with self._http.stream("POST", f"{self.base_url}/embeddings", json=body) as response:
            chunks = []
            for chunk in response.iter_bytes():
                chunks.append(chunk)
                if time.monotonic() > ends:
                    raise Retryable(f"no whole answer within {self._deadline:g} s (the attempt's deadline)")
        kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DECODED]
        return httpx.Response(response.status_code, headers=kept, content=b"".join(chunks), request=response.request)

    def _refused(
        self,
        status: int,
        reason: str,
        response: httpx.Response,
        model: str,
        said: str,
        limit: str | None,
        inputs: int,
    ) -> NoReturn:
        """Raise what an error `status` means, as the chat client does (llm/http_errors.py `refusal`); one saying an
        input is past the model's length as InputTooLong, one saying the batch of `inputs` is too big as BatchTooBig:
        `_fitted` answers both."""
        refused = refusal(
            status,
            reason,
            response,
            provider=self.name,
            model=model,
            said=said,
            asked="to embed with",
            max_retry_after=self._policy.max_retry_after,
            limit=limit,
        )
        raise too_big(status, reason, response.text, inputs, refused) or refused
