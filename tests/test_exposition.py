"""observe/exposition.py writes the Prometheus text itself (prometheus_client's import cost about 1% of an
offline run-weekly): it must give exactly what prometheus_client gives, and write the file atomically."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from llmtrade.observe.exposition import Family, render, to_collector, write_textfile

_AWKWARD = ["plain", 'with "quotes"', "back\\slash", "two\nlines", "accents éü ✓", "", "a,b=c}"]
_VALUES = [0.0, 3, 0.1, -2.5, 1e-7, 999999.0, 1234567.0, 12345678.9, 1e20, math.inf, -math.inf, math.nan]


def _families() -> list[Family]:
    calls = Family("llmtrade_model_calls", "counter", "Model calls recorded.", ("source", "model"))
    for n, label in enumerate(_AWKWARD):
        calls.add([f"s{n}", label], n)
    equity = Family("llmtrade_equity_usd", "gauge", "Equity, US dollars. A \\ and a\nnewline.", ("account",))
    for n, value in enumerate(_VALUES):
        equity.add([f"acct_{n}"], value)
    bare = Family("llmtrade_up", "gauge", "No labels.", ())
    bare.add([], 1)
    empty = Family("llmtrade_fills", "counter", "Nothing yet.", ("account",))
    return [calls, equity, bare, empty]


def test_the_text_is_byte_for_byte_what_prometheus_client_writes() -> None:
    families = _families()
    assert render(families) == generate_latest(to_collector(families)).decode()  # type: ignore[arg-type]


def test_the_text_parses_back_to_the_same_labels_and_values() -> None:
    parsed = {f.name: f for f in text_string_to_metric_families(render(_families()))}
    calls = {s.labels["source"]: (s.labels["model"], s.value) for s in parsed["llmtrade_model_calls"].samples}
    assert calls == {f"s{n}": (label, n) for n, label in enumerate(_AWKWARD)}
    equity = [s.value for s in parsed["llmtrade_equity_usd"].samples]
    assert equity[:-1] == _VALUES[:-1] and math.isnan(equity[-1])


def test_the_file_is_replaced_whole_and_no_temporary_file_stays(tmp_path: Path) -> None:
    (tmp_path / "prom").mkdir()
    path = tmp_path / "prom" / "llmtrade.prom"
    path.write_text("old\n")
    write_textfile(_families(), path)
    assert path.read_text() == render(_families())
    assert [p.name for p in path.parent.iterdir()] == ["llmtrade.prom"]


def test_a_failed_write_raises_and_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "prom").mkdir()
    path = tmp_path / "prom" / "llmtrade.prom"
    path.write_text("old\n")

    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("llmtrade.observe.exposition.os.replace", refuse)
    with pytest.raises(OSError, match="No space"):
        write_textfile(_families(), path)
    assert path.read_text() == "old\n"
    assert [p.name for p in path.parent.iterdir()] == ["llmtrade.prom"]
