"""Which model made the memory's vectors: their size, and the model the server says made them; refused when another
model answers under the configured name.

An /embeddings reply names a model (OpenAI's `CreateEmbeddingResponse.model`, "the name of the model used"): OpenAI
its own id; TEI the model it has loaded, whatever the request names (its router answers `model: info.model_id`); vLLM
the served name asked for; Ollama the tag asked for; a server may name none. The memory keyed its vectors by the
configured name and size alone, so a server that loaded another model of the same size (a TEI container started on
another model id, a proxy routing the name elsewhere) went on answering under that name unseen: its vectors were
cached and stored beside the first model's, and queries of one were searched against the other's. The model a reply
names is kept with each cached vector (storage/memory_embedding_cache.py); a reply naming another one than the vectors
cached under the name is refused as a change of size is. What a reply says is read from the replies the memory asks for
anyway: no request is sent to learn it, and a replay or a backtest, which ask no server, read nothing more.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from llmtrade.errors import OperationalError

_MOST = 200  # characters of a reported name kept: a server's own text, shown in messages and stored


# Vectors cached under a model name are that name's for good: another model answering to it (llama.cpp's server answers
# with whichever it has loaded; a tag pulled anew) needs a name of its own, and the stored setups its vectors.
ANOTHER_MODEL = (
    "the model behind that name changed; give memory.embedding a new model name (models.yaml; or set its dimensions, "
    "where the server gives the size asked), then run `llmtrade memory rebuild` to embed the stored memories with it"
)


class EmbeddingDimensionMismatch(OperationalError):
    """Vectors of another size than asked (or than the model's earlier vectors): the memory cannot mix them."""


class EmbeddingModelChanged(OperationalError):
    """A server answering a configured embedding model name with vectors another model made than the name's earlier
    vectors: the memory cannot mix them (their distances mean nothing)."""


def text_key(model: str, dims: int | None, text: str) -> str:
    """The cache's key of `text`'s vector from the configured `model` at `dims` (None: the model's own size)."""
    return hashlib.sha256(json.dumps([model, dims, text], separators=(",", ":")).encode()).hexdigest()


def served_model(data: dict[str, Any]) -> str | None:
    """The model a reply's body names, else None (absent, empty or not text)."""
    model = data.get("model")
    if not isinstance(model, str) or not model.strip():
        return None
    return model.strip()[:_MOST]


def another_model(
    model: str, provider: str, served: tuple[str, ...], known: Iterable[str]
) -> EmbeddingModelChanged | None:
    """The refusal when the reply's parts name (`served`) another model than made the vectors cached under the
    configured name `model` (`known`), or two models at once; None when they agree or nothing is known."""
    earlier = sorted(set(known))
    if len(served) > 1:
        said = f"{provider} answered {model} with vectors of {len(served)} models at once ({', '.join(served)})"
    elif served and earlier and served[0] not in earlier:
        said = (
            f"{provider} now answers {model} with vectors {served[0]} made (the model its /embeddings reply names), "
            f"but the vectors cached and remembered under {model} were made by {', '.join(earlier)}"
        )
    else:
        return None
    return EmbeddingModelChanged(
        f"{said}: the model behind models.yaml memory.embedding model {model!r} changed, and its vectors cannot be "
        "searched against the earlier ones; give memory.embedding the new model's own name (or point the provider back "
        "at the earlier model), then run `llmtrade memory rebuild` to embed the stored memories with it"
    )
