"""The root options (`--config`, `-q`, `-v`, `--log-json`) taken after the command too: `hoisted`.

Click reads a group's options only before its command's name, so `llmtrade backtest --from ... --config DIR` (the
form the backtest's own documentation gives) and the natural cron line `llmtrade run-due -q` were refused with "No such
option", exit 2. No command has an option of these names, so each one met after the command can only be the root's:
it is moved in front of the command, where click reads it. `--` ends the moving (what follows is an argument).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

FLAGS = frozenset({"-q", "--quiet", "-v", "--verbose", "--log-json"})
VALUED = frozenset({"-c", "--config"})


class MissingValue(Exception):
    """A root option after the command with no value after it (`llmtrade status --config`)."""

    def __init__(self, option: str):
        super().__init__(f"Option '{option}' requires an argument.")


def hoisted(args: Sequence[str], valued: Collection[str] = ()) -> list[str]:
    """`args` (after the program's name) with the root options found after the command moved before it, in their
    order; the command's own arguments keep theirs. `["backtest", "--name", "x", "-c", "cfg"]` ->
    `["-c", "cfg", "backtest", "--name", "x"]`. `valued`: the commands' options that take a value, whose value is never
    moved, whatever it reads (`--name -q` names a backtest "-q", as click reads it; a review). Raises MissingValue for
    a root option after the command with no value after it (left in place, click said "No such option")."""
    args = list(args)
    at = 0
    while at < len(args) and args[at].startswith("-") and args[at] != "--":  # the root options already in front
        at += 2 if args[at] in VALUED else 1
    if at >= len(args) or args[at] == "--":
        return args
    moved: list[str] = []
    kept: list[str] = []
    rest = args[at + 1 :]
    i = 0
    while i < len(rest):
        token = rest[i]
        if token == "--":
            kept.extend(rest[i:])
            break
        if token in valued and i + 1 < len(rest):  # a command's option and its value, whatever the value reads
            kept.extend(rest[i : i + 2])
            i += 1
        elif token in FLAGS or token.startswith("--config="):
            moved.append(token)
        elif token in VALUED:
            if i + 1 >= len(rest):  # left in place, click would say the command has no such option
                raise MissingValue(token)
            moved.extend(rest[i : i + 2])
            i += 1
        else:
            kept.append(token)
        i += 1
    return [*args[:at], *moved, args[at], *kept]
