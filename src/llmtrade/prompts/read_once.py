"""The prompt renderer's loader: each template read once (prompts/renderer.py)."""

from __future__ import annotations

import threading
from typing import Any

import jinja2


class ReadOnce(jinja2.BaseLoader):
    """`loader`'s templates, each read once: what a render compiles from, and what `fingerprint` and `source_digest`
    say it was, are the same text for the renderer's life (a template edited or removed midway is the next one's)."""

    def __init__(self, loader: jinja2.BaseLoader) -> None:
        self.loader = loader
        self._read: dict[str, tuple[str, str | None]] = {}
        self._lock = threading.Lock()  # warm_up compiles on a thread of its own

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str | None, Any]:
        kept = self._read.get(template)
        if kept is None:
            source, filename, _ = self.loader.get_source(environment, template)
            with self._lock:
                kept = self._read.setdefault(template, (source, filename))
        return kept[0], kept[1], lambda: True

    def list_templates(self) -> list[str]:
        return self.loader.list_templates()
