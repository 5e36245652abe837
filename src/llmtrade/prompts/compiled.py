"""Compiled prompt templates kept for the process: each text compiled once, whichever renderer asks.

Every Container makes its own PromptRenderer (prompts/renderer.py), and each compiled all 24 packaged templates again
(some 27 ms of CPU): once per command, but once per job for a process that runs many (a sweep's worker, a test
session: 2,400 renderers, 65 CPU seconds of a suite run). Jinja asks its `bytecode_cache` before compiling; this one
holds the code objects in memory, keyed as jinja keys them (the template's name and file) and kept only while the text
is the same (jinja's checksum, the sha1 of the source, is compared on every load: an edited override is compiled
anew). Only for environments made with the renderer's options: compiled code depends on them (trim_blocks, ...).
"""

from __future__ import annotations

import threading
from types import CodeType

import jinja2
from jinja2.bccache import Bucket


class CompiledOnce(jinja2.BytecodeCache):
    """Code objects by (name, file) key with the checksum of the text they were compiled from; code objects are
    immutable, so they are shared as they are (no marshal round trip)."""

    def __init__(self) -> None:
        self._codes: dict[str, tuple[str, CodeType]] = {}
        self._lock = threading.Lock()  # a renderer's warm-up compiles on a thread of its own

    def load_bytecode(self, bucket: Bucket) -> None:
        kept = self._codes.get(bucket.key)
        if kept is not None and kept[0] == bucket.checksum:
            bucket.code = kept[1]

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None:
            with self._lock:
                self._codes[bucket.key] = (bucket.checksum, bucket.code)


# The one cache of the renderer's environment options (prompts/renderer.py).
COMPILED = CompiledOnce()
