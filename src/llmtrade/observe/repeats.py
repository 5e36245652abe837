"""Which failures of the steps after a command (the metrics file, the metrics push, the traces' export) were said
already: under `--quiet`, cron's way, each is said once per outage, not at every wake-up.

A Pushgateway or OTLP collector that is down for a day had `run-due -q` print its warning every five minutes, a mail
each from cron, where a run refused for a clock set back is said once per record (README "Running from cron"). Kept
in a small JSON file in LLMTRADE_HOME, by step: the failure last said (the step and its error's type); a step that
succeeds forgets it, so the next outage is said again. The log file still records every failure. A file that cannot
be read or written says the failure, as before: saying it twice is better than not at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FILE = "observe-failures.json"


def first_said(home: Path, step: str, failure: str) -> bool:
    """Whether `failure` of `step` ("metrics push") is new since the step last succeeded, remembering it as said."""
    said = _read(home)
    if said.get(step) == failure:
        return False
    _write(home, {**said, step: failure})
    return True


def succeeded(home: Path, step: str) -> None:
    """`step` worked: its next failure is said again."""
    said = _read(home)
    if step in said:
        _write(home, {k: v for k, v in said.items() if k != step})


def _read(home: Path) -> dict[str, str]:
    try:
        found = json.loads((home / FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _write(home: Path, said: dict[str, str]) -> None:
    path = home / FILE
    try:
        temporary = path.with_name(f".{FILE}.{os.getpid()}")
        temporary.write_text(json.dumps(said, sort_keys=True), encoding="utf-8")
        temporary.replace(path)
    except OSError:
        pass  # not remembered: the next failure is said again
