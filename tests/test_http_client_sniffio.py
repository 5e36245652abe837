"""httpcore asks `import sniffio` for every lock a request sets up; sniffio is a declared dependency so that this is
not a failed import searching the whole sys.path each time (it sat on the event loop between the requests of a
fan-out)."""

from __future__ import annotations

import asyncio
import importlib.machinery
from typing import Any

import pytest
from httpcore._synchronization import current_async_library


def test_sniffio_is_not_searched_for_on_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    async def ask() -> list[str]:
        return [current_async_library() for _ in range(10)]

    asyncio.run(ask())  # the first ask may import it
    searched: list[str] = []
    find_spec = importlib.machinery.PathFinder.find_spec

    def counting(name: str, *args: Any, **kw: Any) -> Any:
        searched.append(name)
        return find_spec(name, *args, **kw)

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counting)

    assert asyncio.run(ask()) == ["asyncio"] * 10  # httpcore still takes asyncio
    assert "sniffio" not in searched
