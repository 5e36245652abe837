"""The memory offline: the packaged embedder loads and the whole memory works with the network cut off;
the container builds the memory only when models.yaml switches it on."""

from __future__ import annotations

import logging
import math
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmtrade.app.container import Container
from llmtrade.clock import FixedClock
from llmtrade.config.loader import LoadedConfig, load_config
from llmtrade.memory import embedder as embedder_module
from llmtrade.memory.embedder import BLANK, PACKAGED_DIMS, PACKAGED_MODEL, PackagedEmbedder
from llmtrade.memory.protocol import SetupQuery
from llmtrade.memory.store import PgMemory
from llmtrade.settings import Settings
from tests.support import FIXED_NOW
from tests.test_memory_store import _friday, week_items


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every name lookup and connect to anything but a Unix socket or loopback is refused and remembered."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host not in (None, "127.0.0.1", "::1", "localhost"):
            attempts.append(host)
            raise socket.gaierror(f"network blocked in this test: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    def allowed(sock: socket.socket, address: object) -> bool:
        if sock.family == socket.AF_UNIX:
            return True
        host = address[0] if isinstance(address, tuple) else str(address)
        return host in ("127.0.0.1", "::1", "localhost")

    def connect(sock: socket.socket, address: object) -> None:
        if not allowed(sock, address):
            attempts.append(address)
            raise ConnectionRefusedError(f"network blocked in this test: {address}")
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: object) -> int:
        if not allowed(sock, address):
            attempts.append(address)
            return 111
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    # Without a cached home for the hub, a loader that tried to download would have to connect.
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HOME", "/nonexistent-home")
    embedder_module._load_packaged.cache_clear()
    yield attempts
    embedder_module._load_packaged.cache_clear()


def _container(database_url: str, *, enabled: bool) -> Container:
    loaded = load_config(None)
    models = loaded.config.models
    memory = models.memory.model_copy(update={"enabled": enabled})
    config = loaded.config.model_copy(update={"models": models.model_copy(update={"memory": memory})})
    return Container(
        Settings(DATABASE_URL=database_url),
        LoadedConfig(config, loaded.source),
        FixedClock(FIXED_NOW),
        None,
        lambda _: None,
        offline=True,
    )


def test_the_offline_memory_makes_no_network_call(database_url: str, no_network: list[object]) -> None:
    container = _container(database_url, enabled=True)
    with container.storage() as storage:
        memory = container.memory(storage)
        assert isinstance(memory, PgMemory)
        assert (memory.embedder.model, memory.embedder.dims) == (PACKAGED_MODEL, PACKAGED_DIMS)
        rng = random.Random(3)
        weeks = [date(2024, 1, 1) + timedelta(weeks=i) for i in range(4)]
        for week_id in weeks:
            memory.remember(week_items(week_id, rng), week_id=week_id, run_id=None)
        query = SetupQuery(instrument="SPY", direction="LONG", conviction=1, thesis="momentum breakout")
        hits = memory.similar_setups(query, as_of=_friday(weeks[-1]) + timedelta(days=1), limit=5)
        assert hits and all(h.outcome is not None for h in hits)
        stored = storage.conn.execute("SELECT DISTINCT embedding_model, embedding_dims FROM memory_setups").fetchall()
        assert stored == [(PACKAGED_MODEL, PACKAGED_DIMS)]
    assert no_network == []


def test_the_packaged_vectors_are_unit_length_and_deterministic(no_network: list[object]) -> None:
    first = PackagedEmbedder().embed(["long SPY: momentum, rsi_14 < 70", "short TLT: rates rising"])
    embedder_module._load_packaged.cache_clear()
    again = PackagedEmbedder().embed(["long SPY: momentum, rsi_14 < 70", "short TLT: rates rising"])
    assert first == again
    assert all(len(v) == PACKAGED_DIMS for v in first)
    assert all(abs(sum(x * x for x in v) - 1.0) < 1e-4 for v in first)
    assert no_network == []


def test_an_empty_text_gets_the_blank_unit_vector_not_nan(no_network: list[object]) -> None:
    # A random-but-valid postmortem lesson can be "": wordllama's zero vector / zero norm was NaN and
    # PostgreSQL refused the row ("NaN not allowed in vector"), failing remember_outcomes.
    empty, text = PackagedEmbedder().embed(["", "short TLT: rates rising"])
    assert empty == list(BLANK)
    assert all(math.isfinite(x) for x in text) and text != list(BLANK)


def _wordllamas_own() -> Any:
    """WordLlama's own inference over the packaged files, as its package builds it (not our loader's model)."""
    from importlib import resources

    from safetensors import safe_open
    from tokenizers import Tokenizer

    root_logger = logging.getLogger()
    placeholder = logging.NullHandler()  # wordllama's import calls logging.basicConfig(level=INFO)
    root_logger.addHandler(placeholder)
    try:
        from wordllama.inference import WordLlamaInference
    finally:
        root_logger.removeHandler(placeholder)
    root = resources.files("wordllama")
    with safe_open(str(root / "weights" / "l2_supercat_256.safetensors"), framework="np", device="cpu") as f:
        weights = f.get_tensor("embedding.weight")
    tokenizer = Tokenizer.from_file(str(root / "tokenizers" / "l2_supercat_tokenizer_config.json"))
    return WordLlamaInference(weights, tokenizer)


def test_the_vectors_are_wordllamas_own_pooling_without_its_padding(no_network: list[object]) -> None:
    # Texts of very different lengths: WordLlama pads them to the longest; pooling each alone must agree.
    rng = random.Random(5)
    words = [
        "long",
        "short",
        "SPY",
        "TLT",
        "momentum",
        "breakout",
        "rates",
        "rising",
        "rsi_14",
        "<",
        "70",
        "conviction",
        "thesis",
    ]
    texts = ["x", *(" ".join(rng.choice(words) for _ in range(rng.randint(1, 250))) for _ in range(12))]
    ours = PackagedEmbedder().embed(texts)
    own = _wordllamas_own()
    theirs = own.embed(texts, norm=True)
    # Read without importing wordllama, the model is the table and tokenizer settings WordLlama makes of the files.
    model = embedder_module._packaged()
    assert model.embedding.dtype == own.embedding.dtype and (model.embedding == own.embedding).all()
    assert model.embedding.flags.c_contiguous
    assert model.tokenizer.padding == own.tokenizer.padding and model.tokenizer.truncation == own.tokenizer.truncation
    assert len(ours) == len(texts)
    # A text alone (a query: no padding to cut) gets exactly the vector it gets in a padded batch.
    assert [PackagedEmbedder().embed([text])[0] for text in texts] == ours
    # Texts are encoded one at a time (no thread pool): each gets the ids a padded batch gives it, padding cut.
    tokenizer = embedder_module._packaged().tokenizer
    batch = tokenizer.encode_batch(texts, add_special_tokens=False)
    alone = [tokenizer.encode(text, add_special_tokens=False).ids for text in texts]
    assert alone == [[i for i, m in zip(e.ids, e.attention_mask, strict=True) if m] for e in batch]
    assert any(len(e.ids) > len(ids) for e, ids in zip(batch, alone, strict=True))  # the batch was padded
    assert (
        max(abs(a - float(b)) for row, other in zip(ours, theirs, strict=True) for a, b in zip(row, other, strict=True))
        < 1e-6
    )


def test_the_embedder_loads_its_model_in_the_background_once(no_network: list[object]) -> None:
    PackagedEmbedder()
    for _ in range(200):  # a loaded model within 10 s, with no embed asked for
        if embedder_module._loaded():
            break
        time.sleep(0.05)
    assert embedder_module._loaded()
    loaded = embedder_module._load_packaged()
    PackagedEmbedder().embed(["x"])
    assert embedder_module._load_packaged() is loaded


def test_memory_switched_off_is_none(database_url: str) -> None:
    container = _container(database_url, enabled=False)
    with container.storage() as storage:
        assert container.memory(storage) is None


def test_loading_the_model_leaves_the_root_logger_as_it_was() -> None:
    # wordllama's import calls logging.basicConfig(level=INFO): left in place, psycopg's warnings were printed
    # beside the one-line error of a run whose database stopped (tests/test_outages.py). A fresh interpreter,
    # so the import really happens.
    code = (
        "import logging\n"
        "from llmtrade.memory.embedder import _packaged\n"
        "_packaged()\n"
        "root = logging.getLogger()\n"
        "print(len(root.handlers), root.level)\n"
    )
    src = str(Path(embedder_module.__file__).resolve().parents[2])
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": src}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", str(logging.WARNING)]
