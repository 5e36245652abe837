"""The Prometheus text exposition format (version 0.0.4), written without prometheus_client.

Why not prometheus_client's own writer: importing it (it brings http.server, urllib.request, wsgiref and its
default collectors) took longer than the rest of the metrics step together -- 20 to 100 ms, about 1% of an
offline run-weekly by itself, whose whole observability budget is 1%. The format is small: `render` gives,
byte for byte, what `prometheus_client.generate_latest` gives for the same families (a test compares the two
with awkward label values and numbers), and prometheus_client is imported only to push to a Pushgateway
(`to_collector`).
"""

from __future__ import annotations

import errno
import math
import os
import stat
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from prometheus_client.registry import Collector


@dataclass(frozen=True, slots=True)
class Family:
    """One metric family: `name` without the `_total` a counter's samples get; `samples` are (label values in
    the order of `labels`, value) pairs, added with `add`."""

    name: str
    kind: Literal["gauge", "counter"]
    doc: str
    labels: tuple[str, ...]
    samples: list[tuple[tuple[str, ...], float]] = field(default_factory=list)

    def add(self, values: Sequence[str], value: float) -> None:
        self.samples.append((tuple(values), float(value)))


def render(families: Sequence[Family]) -> str:
    """The families as Prometheus text (HELP and TYPE lines, then one line a sample, labels sorted by name)."""
    out: list[str] = []
    for family in families:
        name = f"{family.name}_total" if family.kind == "counter" else family.name
        doc = family.doc.replace("\\", r"\\").replace("\n", r"\n")
        out.append(f"# HELP {name} {doc}\n# TYPE {name} {family.kind}\n")
        for values, value in family.samples:
            labels = ",".join(f'{k}="{_escaped(v)}"' for k, v in sorted(zip(family.labels, values, strict=True)))
            out.append(f"{name}{{{labels}}} {_go_float(value)}\n" if labels else f"{name} {_go_float(value)}\n")
    return "".join(out)


def write_textfile(families: Sequence[Family], path: Path) -> None:
    """Write the text to `path` atomically and durably, as node_exporter's textfile collector docs ask: a temporary
    file beside it (the same file system, so the rename is atomic), synced, renamed over it, and the folder synced.
    Renamed unsynced, a power loss could leave the name on an empty or partial file, read by node_exporter (or
    refused as a parse error) until the next command. Raises OSError; the temporary file is removed."""
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
    kept = _mode_of(path)
    try:
        with open(temporary, "wb") as out:
            if kept is not None and hasattr(os, "fchmod"):  # no fchmod before Python 3.13 on Windows
                # The mode the file was given (`chmod 644` for node_exporter's own user, under a umask of 077) kept
                # across the rename, which otherwise put a file of the umask's mode in its place at every command.
                os.fchmod(out.fileno(), kept)
            out.write(render(families).encode())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(path.parent)


def _mode_of(path: Path) -> int | None:
    """The permission bits of the file at `path`, None when there is none yet (or it cannot be read)."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None


def _sync_folder(folder: Path) -> None:
    """The rename made durable. A file system that cannot sync a folder (EINVAL, as some network and FUSE ones
    answer) has nothing more to do: the file itself is synced and in place."""
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
    finally:
        os.close(fd)


def to_collector(families: Sequence[Family]) -> Collector:
    """The same families as prometheus_client's (for push_to_gateway); imports prometheus_client."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    converted = []
    for family in families:
        kind = CounterMetricFamily if family.kind == "counter" else GaugeMetricFamily
        metric = kind(family.name, family.doc, labels=list(family.labels))
        for values, value in family.samples:
            metric.add_metric(list(values), value)
        converted.append(metric)
    return _Fixed(converted)


class _Fixed:
    """A collector that gives the same families every time."""

    def __init__(self, families: list[object]):
        self.families = families

    def collect(self) -> list[object]:
        return self.families


def _escaped(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _go_float(value: float) -> str:
    """A value as Prometheus (Go) writes it: +Inf, -Inf, NaN, exponents past a million (as prometheus_client)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text
