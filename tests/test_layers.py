"""The layers of DESIGN.md section 3 import one way only: each module imports its own layer or lower."""

from __future__ import annotations

import ast
from pathlib import Path

import llmtrade

PACKAGE = Path(llmtrade.__file__).parent

# Lower number = lower layer. A module may import from its own layer or any lower one.
RANK = {
    "errors": 0,
    "config_errors": 0,  # what is wrong in a config file (ConfigError, ConfigProblem): config/ raises them
    "reply_errors": 0,  # errors of a model answer that cannot be used (cut off, empty, withheld): llm/ raises them
    "exits": 0,
    "stops": 0,  # how a command answers Ctrl-C and SIGTERM: exits.py maps the stop to its exit code
    "paths": 0,
    "fanout": 0,
    "threads": 0,  # blocking calls on threads, none left running behind a stop (accounts, risk_prep, memory, records)
    "memo": 0,  # values made once per object (by identity), for any layer
    "readers": 0,  # stdout and stderr that outlive their reader: entry.py wraps them first
    "retry_after": 0,  # a Retry-After header's seconds: the model providers' clients and Alpaca's market data
    "text_bytes": 0,  # a file's encoding by its byte-order mark: config files and CSV prices
    "worker_process": 0,  # what a command's helper process runs first: analytics/draws.py, market/paths_ahead.py
    "domain": 1,
    "clock": 1,
    "settings": 1,
    "config": 2,
    "storage": 3,
    "market": 4,
    "brokers": 5,
    "risk": 5,
    "analytics": 5,
    "llm": 5,
    "alerts": 5,  # incidents from the store, sent through apprise; app/alerting.py calls it after each job
    "prompts": 5,
    "agents": 6,
    "discovery": 6,
    "memory": 6,  # uses llm (embeddings) and storage; agents and workflows read it
    "council": 7,
    "pipeline": 8,
    "workflows": 9,
    "app": 10,
    "report": 10,  # the HTML report: renders app/report_records; app/report.py writes it
    "sweep": 10,  # backtest sweeps: many backtests (app/backtest.py) on one executor interface
    "observe": 10,  # logs, metrics and run timelines: reads storage; commands/ and cli.py call it
    "console": 11,  # the renderers are in commands/render
    "commands": 12,
    "cli": 13,
    "entry": 14,  # the console script: a SIGTERM handler, then cli.py
}


def _layer(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name.startswith("llmtrade.")]


def test_every_module_belongs_to_a_known_layer() -> None:
    layers = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.rglob("*.py")}
    assert layers - {"__init__", "__main__"} <= set(RANK)


def test_imports_point_down_only() -> None:
    violations = []
    for path in PACKAGE.rglob("*.py"):
        layer = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if layer in ("__init__", "__main__"):
            continue
        for imported in _imports(path):
            target = _layer(imported)
            if target in RANK and RANK[target] > RANK[layer]:
                violations.append(f"{path.relative_to(PACKAGE)} ({layer}) imports {imported} ({target})")
    assert violations == []


def _mentions(text: str) -> list[str]:
    return sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py") if text in path.read_text())


def test_the_mode_is_decided_in_one_place() -> None:
    # llm/providers.py defines decide_mode; the application container is its only caller.
    assert _mentions("decide_mode(") == ["app/container.py", "llm/providers.py"]


def test_shared_options_are_declared_once() -> None:
    for flag in ('"--json"', '"--offline"', '"--replay"', '"--dry-run"'):
        assert _mentions(flag) == ["commands/options.py"], flag
