"""Text to vectors for the memory: the `Embedder` protocol and the packaged offline model.

Offline (no embedding model configured, or an offline run) the memory embeds with WordLlama's default
model (`wordllama` on PyPI, MIT licence): 256 dimensions, token embeddings average-pooled, and its weights
(16 MB safetensors) and tokenizer ship inside the wheel, so nothing is downloaded. Its own loader looks for
the tokenizer under a directory name the wheel does not use and then falls back to the Hugging Face hub;
`_load_packaged` reads both files from the package directly, so loading never touches the network.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache
from typing import TYPE_CHECKING, Protocol

from llmtrade.errors import OperationalError

if TYPE_CHECKING:
    from wordllama.inference import WordLlamaInference

PACKAGED_MODEL = "wordllama/l2_supercat_256"
PACKAGED_DIMS = 256


class Embedder(Protocol):
    """Turns texts into unit-length vectors of `dims` floats made by `model` (both recorded with each vector).

    `embed` returns one vector per text, in order; raises TemporaryError (retry later) or OperationalError."""

    @property
    def model(self) -> str: ...

    @property
    def dims(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class PackagedEmbedder:
    """The offline embedder: WordLlama's packaged 256-dimension model, loaded once per process."""

    model = PACKAGED_MODEL
    dims = PACKAGED_DIMS

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        inference = _load_packaged()
        with _LOCK:  # the tokenizer is shared; keep batches whole across threads
            vectors = inference.embed(list(texts), norm=True)
        return [[float(x) for x in row] for row in vectors]


_LOCK = threading.Lock()


@cache
def _load_packaged() -> WordLlamaInference:
    try:
        from importlib import resources

        from safetensors import safe_open
        from tokenizers import Tokenizer
        from wordllama.inference import WordLlamaInference
    except ImportError as exc:  # pragma: no cover - a broken install
        raise OperationalError(f"the offline embedder needs the wordllama package: {exc}") from exc
    root = resources.files("wordllama")
    tokenizer_file = root / "tokenizers" / "l2_supercat_tokenizer_config.json"
    weights_file = root / "weights" / "l2_supercat_256.safetensors"
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        with safe_open(str(weights_file), framework="np", device="cpu") as f:
            weights = f.get_tensor("embedding.weight")
    except Exception as exc:  # safetensors/tokenizers raise their own exception types
        raise OperationalError(f"could not load the packaged embedding model from {root}: {exc}") from exc
    return WordLlamaInference(weights, tokenizer, binary=False)
