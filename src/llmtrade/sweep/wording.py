"""A sweep run's error said in the sweep's own terms: what to change in the sweep file or the sweep command.

A sweep's run is a whole `llmtrade backtest`, and its failure is the backtest's own error, written for the backtest
command: "end the range with --to 2026-01-07", "run the range ... under a new --name", "(--live-misses USD)". The
sweep has none of those options (its range is the file's `from:`/`to:`, its runs' names come from the file's
`name:` and their inputs, its mode is the file's `mode:`), so a user told to pass `--to` to the sweep was told
something it refuses. `for_sweep` rewrites each option of `llmtrade backtest` a sweep lacks (`BACKTEST_ONLY`) in
the message the sweep shows and records; the run's own books keep the backtest's words (a backtest's events are its
own: `llmtrade events --backtest RUN` reads them as any backtest's).
"""

from __future__ import annotations

import re

# Whole phrases first, where the option alone would read wrong in a sweep (its advice is another thing to do).
_PHRASES: tuple[tuple[str, str], ...] = (
    (
        # llm/gateway.py's ReplayMiss: a sweep has no live misses, but a backtest's bought answers join the live cache
        # a replay sweep reads at its start (a new cache: new runs, not the failed ones' results).
        r"in a backtest let misses ask the live model \(--live-misses USD\)",
        "let `llmtrade backtest --replay --live-misses USD` over the range ask the live model (what it buys joins "
        "the live cache a replay sweep reads), or set mode: offline in the sweep file",
    ),
    (r"\(without --replay\)", "(llmtrade run-weekly, not a replay)"),
    (r"or drop --replay", "or set mode: offline in the sweep file"),
    # A run's backtest is named by the sweep's name and the run's inputs: another name is another sweep's.
    (r"\bgive (?:a new|another) --name\b", "give the sweep another name (the sweep file's name:)"),
    (r"\bunder (?:a new|another) --name\b", "in a sweep of another name (the sweep file's name:)"),
    (r"\b(?:a new|another) --name\b", "a sweep of another name (the sweep file's name:)"),
    (r"--to, a sweep's to:", "to: in the sweep file's range"),  # market/validation.py's, which names both
)

# Each option of `llmtrade backtest` that `llmtrade backtest sweep` does not take (its name, without the dashes: the
# options are declared in commands/, tests/test_layers.py), and what the sweep says instead
# (tests/test_sweep_wording.py checks this covers every one of the backtest command's). A value after the option is
# kept: "--to 2026-01-07" reads "to: 2026-01-07 in the sweep file's range".
BACKTEST_ONLY: dict[str, tuple[str, str]] = {
    # option: (said with its value, said alone)
    "from": ("from: {} in the sweep file's range", "the range's from: in the sweep file"),
    "to": ("to: {} in the sweep file's range", "the range's to: in the sweep file"),
    "name": ("the sweep file's name:", "the sweep file's name:"),
    "offline": ("mode: offline in the sweep file", "mode: offline in the sweep file"),
    "replay": ("mode: replay in the sweep file", "mode: replay in the sweep file"),
    "live-misses": ("`llmtrade backtest --live-misses`", "`llmtrade backtest --live-misses` (a sweep has none)"),
    "fetch-history": (
        "`llmtrade backtest --fetch-history`",
        "`llmtrade backtest --fetch-history` (a sweep has none)",
    ),
    "audit": ("`llmtrade backtest --audit`", "`llmtrade backtest --audit` (a sweep has none)"),
}

# A value follows these options in the backtest's messages ("--to 2026-01-07", "--audit 4", "--name h1"); "USD" is
# the metavar --live-misses is written with.
_VALUE = r"(?:\d{4}-\d{2}-\d{2}|\d+|USD)"


def for_sweep(message: str) -> str:
    """`message` (a sweep run's backtest error) naming what to change in the sweep file or command instead of any
    option of `llmtrade backtest` the sweep lacks."""
    said = re.sub(r"^--replay: ", "mode: replay: ", message)  # the gateway's and embeddings' ReplayMiss: the mode
    for pattern, instead in _PHRASES:
        said = re.sub(pattern, instead, said)
    for option, (with_value, alone) in BACKTEST_ONLY.items():
        said = _rewrite(said, f"--{option}", with_value, alone)
    return said


def _rewrite(said: str, option: str, with_value: str, alone: str) -> str:
    pattern = re.compile(rf"(?<![\w-]){re.escape(option)}(?![\w-])(?: ({_VALUE}))?")

    def instead(found: re.Match[str]) -> str:
        if _in_backtest_command(said[: found.start()]):  # `llmtrade backtest --replay ...`: the other command's own
            return found.group(0)
        value = found.group(1)
        return with_value.format(value) if value is not None else alone

    return pattern.sub(instead, said)


def _in_backtest_command(before: str) -> bool:
    """Whether the text after `before` is inside a quoted `llmtrade backtest ...` command (an open backtick)."""
    return before.count("`") % 2 == 1 and before[before.rfind("`") + 1 :].startswith("llmtrade backtest ")
