"""Text to vectors for the memory: the `Embedder` protocol and the packaged offline model.

Offline (no embedding model configured, or an offline run) the memory embeds with WordLlama's default
model (`wordllama` on PyPI, MIT licence): 256 dimensions, token embeddings average-pooled, and its weights
(16 MB safetensors) and tokenizer ship inside the wheel, so nothing is downloaded. Its own loader looks for
the tokenizer under a directory name the wheel does not use and then falls back to the Hugging Face hub;
`_load_packaged` reads both files from the installed package directly (without importing it), so loading
never touches the network.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from llmtrade.errors import OperationalError

if TYPE_CHECKING:
    import numpy as np
    from tokenizers import Tokenizer

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
    """The offline embedder: WordLlama's packaged 256-dimension model, loaded once per process.

    Made with `warm` (the default), it starts loading the model (~0.3-0.6 s) on a background thread, so a
    weekly run's first `remember` finds it loaded instead of loading it between two model round trips; a
    command that may never embed (`memory search --week`, `memory stats`) passes warm=False. The thread is
    not a daemon: the interpreter waits for it at exit. A daemon thread still inside tokenizers' or
    safetensors' native code when the process ended was unwound by Python 3.11's finalization, and glibc
    aborted the process (`FATAL: exception not rethrown`, exit 134) after the command had done its work.
    A text with no tokens (the empty string) has no direction; it gets `BLANK`, a fixed unit vector, never
    NaN (which pgvector refuses)."""

    model = PACKAGED_MODEL
    dims = PACKAGED_DIMS

    def __init__(self, *, warm: bool = True) -> None:
        if warm and not _loaded():
            threading.Thread(target=_warm, name="embedder-warm-up", daemon=False).start()

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        # A text's vector is a function of the text alone: one made before is given again (the same float32 values,
        # made Python floats the same way), and only the others are tokenized and pooled. A backtest embeds the
        # same texts week after week (a quarter of a weekly run's notes and setups, nearly every postmortem lesson:
        # ~480 of 1,300 texts in 52 synthetic weeks).
        with _LOCK:
            known = [_MADE.get(text) for text in texts]
        missing = list(dict.fromkeys(text for text, unit in zip(texts, known, strict=True) if unit is None))
        fresh = dict(zip(missing, self._pooled(missing), strict=True)) if missing else {}
        if fresh:
            with _LOCK:
                for text, unit in fresh.items():
                    if len(_MADE) >= _MADE_MAX:
                        del _MADE[next(iter(_MADE))]  # the oldest: dicts keep insertion order
                    _MADE[text] = unit
        return [(unit if unit is not None else fresh[text]).tolist() for text, unit in zip(texts, known, strict=True)]

    def _pooled(self, texts: Sequence[str]) -> list[np.ndarray]:
        """Each text's unit vector (float32), or `BLANK`'s for a text with no tokens or no finite direction."""
        import numpy as np  # wordllama's own dependency; loaded with the model

        model = _packaged()
        # One text at a time: `encode_batch` hands a batch to a thread pool, whose threads' work (about twice the
        # encoding's, at a weekly run's batches of 4-12 texts) competes with PostgreSQL for the cores. A text alone is
        # never padded (the tokenizer pads a batch to its longest text, as WordLlama sets it): its ids are the ones a
        # batch gives it, its padding cut.
        with _LOCK:  # the tokenizer and the model's words are shared across threads
            encoded = [model.ids(text) for text in texts]
        # WordLlama's own `embed` pads the batch to its longest text and pools (texts x longest x 256) floats;
        # pooling each text's own tokens is the same mean (to float32 rounding) at a fraction of the work.
        table = model.embedding
        last = table.shape[0] - 1
        blank = np.asarray(BLANK, dtype=np.float32)  # 1.0 and 0.0: exact in float32
        vectors: list[np.ndarray] = []
        for enc in encoded:
            ids = np.asarray(enc, dtype=np.int64)
            if ids.size == 0:
                vectors.append(blank)
                continue
            # As WordLlama does with an out-of-range id (ids are never negative); np.minimum, not np.clip's slower
            # wrapper. The norm is np.linalg.norm's own arithmetic (sqrt of the dot product): the same bits.
            np.minimum(ids, last, out=ids)
            pooled = table[ids].sum(axis=0, dtype=np.float32) / np.float32(ids.size)
            norm = float(np.sqrt(pooled.dot(pooled)))
            unit = pooled / norm if norm > 0 else None
            # One numpy check, not math.isfinite per float (~0.1 ms a text, on the path of every query).
            vectors.append(unit if unit is not None and np.isfinite(unit).all() else blank)
        return vectors


BLANK: tuple[float, ...] = (1.0,) + (0.0,) * (PACKAGED_DIMS - 1)
_LOCK = threading.Lock()  # the tokenizer and `_MADE` are shared across threads
# Text -> its unit vector (float32, never changed in place), the newest _MADE_MAX texts (~1 kB each).
_MADE: dict[str, np.ndarray] = {}
_MADE_MAX = 8192
_LOAD_LOCK = threading.Lock()


def _warm() -> None:
    # Best effort, possibly at interpreter exit: a failure here is met again, and reported, by the first embed.
    with contextlib.suppress(Exception):
        _packaged()


def _loaded() -> bool:
    return _load_packaged.cache_info().currsize > 0


def _packaged() -> _Model:
    # The warm-up thread and the first embed may ask at once; the model is loaded once.
    with _LOAD_LOCK:
        return _load_packaged()


@dataclass(frozen=True)
class _Model:
    """What pooling needs of WordLlama's packaged model: its tokenizer and its token table (float32).

    `ids` is the tokenizer's `encode` (no special tokens added), worked out a word at a time: its BPE runs over the
    whole text as one word (the tokenizer has no pre-tokenizer; its normalizer only writes spaces as "▁"), which
    cost ~0.11 ms CPU a text (0.04 a word at a time: the 829 texts a 52-week synthetic backtest embeds), most of a
    fresh text's embedding. With no token holding a "▁" after another
    character (`words_apart`: checked on the vocabulary when loaded), no merge joins two symbols across the start
    of a "▁" run that follows another character: the text's symbols either side of such a start are merged apart,
    in the same rank order, so the ids are those of each word (a "▁" run and what follows it up to the next) in
    turn. Each word's ids are kept (a backtest's texts share most of their words). A text holding a special
    token's text (matched before the normalizer) or none at all is encoded whole."""

    tokenizer: Tokenizer
    embedding: np.ndarray
    words_apart: bool = False
    specials: tuple[str, ...] = ()
    # The normalizer is WordLlama's (`_SPACES`: a "▁" before a non-empty text, each space written "▁"), done here
    # with str methods rather than the tokenizer's normalize_str (~30 us a text, most of a fresh text's ids).
    spaces: bool = False
    words: dict[str, list[int]] = field(default_factory=dict, compare=False)

    def ids(self, text: str) -> list[int]:
        """`tokenizer.encode(text, add_special_tokens=False).ids`; the caller holds `_LOCK`."""
        if not self.words_apart or not text or any(special in text for special in self.specials):
            return self.tokenizer.encode(text, add_special_tokens=False).ids
        normalizer, model, words = self.tokenizer.normalizer, self.tokenizer.model, self.words
        ids: list[int] = []
        if self.spaces:
            normalized = _SPACE + text.replace(" ", _SPACE)  # `text` is not empty
        else:
            normalized = normalizer.normalize_str(text) if normalizer is not None else text
        for word in _WORD.findall(normalized):
            kept = words.get(word)
            if kept is None:
                if len(words) >= _WORDS_MAX:
                    words.clear()
                kept = words[word] = [token.id for token in model.tokenize(word)]
            ids.extend(kept)
        return ids


_SPACE = "\u2581"  # "▁": SentencePiece's space, as the normalizer writes one
# A word: a run of spaces (maybe none, at the start) and what follows it up to the next space; or spaces that end the
# text. The words partition the text (each match ends before a space or at the end).
_WORD = re.compile(f"{_SPACE}*[^{_SPACE}]+|{_SPACE}+")
_WORDS_MAX = 65_536
# The packaged tokenizer's normalizer, as its JSON gives it: prepend "▁" (to a non-empty text), then every " " as "▁".
_SPACES = {
    "type": "Sequence",
    "normalizers": [
        {"type": "Prepend", "prepend": _SPACE},
        {"type": "Replace", "pattern": {"String": " "}, "content": _SPACE},
    ],
}


def _words_apart(tokenizer: Tokenizer) -> bool:
    """Whether `_Model.ids` may encode `tokenizer`'s texts a word at a time (the same ids): a BPE model without
    dropout, that merges (no whole-word shortcut), marks no word's start or end (a prefix or suffix would go on each
    word instead of the text's), after no pre-tokenizer, none of whose tokens holds a space after another character."""
    from tokenizers.models import BPE

    model = tokenizer.model
    if tokenizer.pre_tokenizer is not None or not isinstance(model, BPE) or model.dropout or model.ignore_merges:
        return False
    if model.continuing_subword_prefix or model.end_of_word_suffix:
        return False
    return not any(_SPACE in token.lstrip(_SPACE) for token in tokenizer.get_vocab(with_added_tokens=True))


@cache
def _load_packaged() -> _Model:
    # The two files are read from the installed package without importing it: `import wordllama` costs some
    # 0.25 CPU seconds (requests, its config and training modules) and calls logging.basicConfig(level=INFO).
    # The model is what WordLlamaInference(weights, tokenizer) makes of them: the table as contiguous float32,
    # the tokenizer padding (a batch to its longest text) and not truncating.
    try:
        import numpy as np
        from safetensors import safe_open
        from tokenizers import Tokenizer
    except ImportError as exc:  # pragma: no cover - a broken install
        raise OperationalError(f"the offline embedder needs the wordllama package: {exc}") from exc
    spec = importlib.util.find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:  # pragma: no cover - a broken install
        raise OperationalError("the offline embedder needs the wordllama package: it is not installed")
    root = Path(next(iter(spec.submodule_search_locations)))
    tokenizer_file = root / "tokenizers" / "l2_supercat_tokenizer_config.json"
    weights_file = root / "weights" / "l2_supercat_256.safetensors"
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        with safe_open(str(weights_file), framework="np", device="cpu") as f:
            weights = f.get_tensor("embedding.weight")
    except Exception as exc:  # safetensors/tokenizers raise their own exception types
        raise OperationalError(f"could not load the packaged embedding model from {root}: {exc}") from exc
    tokenizer.enable_padding()
    tokenizer.no_truncation()
    specials = tuple(token.content for token in tokenizer.get_added_tokens_decoder().values())
    table = np.ascontiguousarray(weights.astype(np.float32))
    # The normalizer's own JSON (its pickled state), not the whole tokenizer's written out and parsed again (1.2 MB:
    # 0.05 CPU seconds of every command that embeds, a sixth of the model's load).
    normalizer = tokenizer.normalizer
    spaces = normalizer is not None and json.loads(normalizer.__getstate__()) == _SPACES
    return _Model(tokenizer, table, words_apart=_words_apart(tokenizer), specials=specials, spaces=spaces)
