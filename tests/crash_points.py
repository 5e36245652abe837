"""A harness that kills a run (simulated) around each of its event writes, then checks the rerun.

The process "dies" with `Crash`, a BaseException (nothing in llmtrade catches it as an error: the
run's own failure handlers try to write and die too, as they would under SIGKILL). `dying` wraps
EventStore.append and the brokers' `submit`: it counts every append and, at the chosen index, dies
just before it (nothing written) or just after it committed; from then on the process is dead, so
a worker thread of another account that is still running dies at its next write or broker call
instead of carrying on. Dying before the OrderSubmitted append is the order window: the broker has
the order, the audit log does not.

Crash points are enumerated, never listed: `dying(None)` counts the appends of a clean run, and the
tests die at each index, so a new write in the code is a new crash point without editing a test.

The checks (`problems`) read the database and the broker as they are after the rerun: the run
completed, every planned order was recorded once and reached the broker once, no write-once record
was written twice, and positions equal what the recorded orders imply (and the clean run's).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from llmtrade.brokers.alpaca import AlpacaBroker
from llmtrade.brokers.paper import PaperBroker
from llmtrade.storage.event_store import EventStore
from tests.fakes.alpaca_server import FakeAlpacaServer, FakeRequest, FakeResponse

When = Literal["before", "after"]


class Crash(BaseException):
    """The process died here (a BaseException: no `except Exception` in the code may survive it)."""


@dataclass
class Dying:
    """Where to die (`at`: the index of an append, None: never) and what happened so far."""

    at: int | str | None
    when: When = "before"
    appends: int = 0
    dead: bool = False
    types: list[str] = field(default_factory=list)  # event types of each append, in order

    def die(self, where: str) -> None:
        self.dead = True
        raise Crash(where)


@contextmanager
def dying(at: int | str | None, when: When = "before") -> Iterator[Dying]:
    """Patch EventStore.append and the brokers' submit so the process dies around append number `at`
    (or, for a str, around the first append holding an event of that type)."""
    state = Dying(at, when)
    append, paper_submit, alpaca_submit = EventStore.append, PaperBroker.submit, AlpacaBroker.submit

    def dying_append(self: EventStore, events: Any, *args: Any, **kwargs: Any) -> Any:
        if state.dead:
            raise Crash("dead")
        index = state.appends
        state.appends += 1
        state.types.append(",".join(e.type for e in events))
        here = index == at or (isinstance(at, str) and any(e.type == at for e in events))
        if here and when == "before":
            state.die(f"before append {index}")
        result = append(self, events, *args, **kwargs)
        if here and when == "after":
            state.die(f"after append {index}")
        return result

    def guard(submit: Any) -> Any:
        def dying_submit(self: Any, order: Any) -> Any:
            if state.dead:
                raise Crash("dead")
            return submit(self, order)

        return dying_submit

    EventStore.append = dying_append  # type: ignore[method-assign]
    PaperBroker.submit = guard(paper_submit)  # type: ignore[method-assign]
    AlpacaBroker.submit = guard(alpaca_submit)  # type: ignore[method-assign]
    try:
        yield state
    finally:
        EventStore.append = append  # type: ignore[method-assign]
        PaperBroker.submit = paper_submit  # type: ignore[method-assign]
        AlpacaBroker.submit = alpaca_submit  # type: ignore[method-assign]


# ---------------------------------------------------------------- databases


def database(admin_url: str, *, template: str | None = None, name: str | None = None) -> str:
    """A new database (a copy of `template` when given), named `name` or a name of its own; returns its name.

    A connection to `template` just closed leaves its server process exiting for a moment, and CREATE DATABASE refuses
    a template with any session (ObjectInUse) once the server's own 5 s wait for it is over: under CI's load a
    module's first copy right after its migrations met that (a CI run at 7d0f702c). Asked again, a few times."""
    name = name or f"crash_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for attempt in range(5):
            try:
                conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
                break
            except psycopg.errors.ObjectInUse:
                if attempt == 4:
                    raise
                time.sleep(1)
    return name


def once_per_module(
    kept: dict[str, tuple[str, Path]], admin_url: str, database_url: str, home: Path, run: Callable[[], None]
) -> bool:
    """`run` (a setup every test of a module starts from, run and asserted once) on this test's database
    (`database_url`) and home: the first time, run and kept (a copy of its database, dropped by the caller's module
    fixture, and of its home); after, this test's database and home replaced by copies of those. False when `run` ran,
    True when copies were given (the caller then sets what `run` left in the environment)."""
    name = database_url.partition("?")[0].rsplit("/", 1)[1]
    if (found := kept.get("run")) is not None:
        template, saved = found
        drop(admin_url, name)
        database(admin_url, template=template, name=name)
        shutil.rmtree(home, ignore_errors=True)
        shutil.copytree(saved, home, symlinks=True)
        return True
    run()
    saved = home.parent / "kept-home"
    shutil.copytree(home, saved, symlinks=True)
    kept["run"] = (database(admin_url, template=name), saved)
    return False


def drop(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def url_of(admin_url: str, name: str) -> str:
    head, _, query = admin_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def events_of(url: str) -> list[tuple[str, str, dict[str, Any]]]:
    """Every event as (stream, type, payload), in commit order."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("SELECT stream, type, payload FROM events ORDER BY id").fetchall()
    return [(s, t, p if isinstance(p, dict) else json.loads(p)) for s, t, p in rows]


# ---------------------------------------------------------------- the fake Alpaca's state


class CountingAlpaca:
    """A fake Alpaca server that counts order submissions by client_order_id and can be reset to a snapshot."""

    STATE = (
        "account_uuid",
        "_account_number",
        "_created_at",
        "_resets",
        "orders",
        "_cash",
        "_buying_power_over_cash",
        "_equity",
        "_prices",
        "_holdings",
        "_assets",
    )

    def __init__(self, server: FakeAlpacaServer) -> None:
        self.server = server
        self.submitted: Counter[str] = Counter()
        submit = server._submit_order

        def counting(request: FakeRequest) -> FakeResponse:
            body = request.body if isinstance(request.body, dict) else {}
            self.submitted[str(body.get("client_order_id"))] += 1
            return submit(request)

        server._routes.insert(0, ("POST", re.compile(r"/v2/orders"), counting))
        self.clean = self.snapshot()  # the server before any order: a test restores it to start from nothing

    def snapshot(self) -> dict[str, Any]:
        """The server's trading state and the submissions counted so far."""
        with self.server._lock:
            state = {name: copy.deepcopy(getattr(self.server, name)) for name in self.STATE}
        return state | {"fill_immediately": self.server.fill_immediately, "submitted": Counter(self.submitted)}

    def restore(self, state: dict[str, Any]) -> None:
        with self.server._lock:
            for name, value in state.items():
                if name != "submitted":
                    setattr(self.server, name, copy.deepcopy(value))
        self.submitted = Counter(state["submitted"])
        self.server.reset()

    def positions(self) -> dict[str, int]:
        with self.server._lock:
            return {s: h.qty for s, h in self.server._holdings.items() if h.qty}


# ---------------------------------------------------------------- the checks


def _signed(order: dict[str, Any]) -> int:
    return int(order["qty"]) if order["side"] == "buy" else -int(order["qty"])


def _add(book: dict[str, Counter[str]], account: str, symbol: str, qty: int) -> None:
    book.setdefault(account, Counter())[symbol] += qty


def _clean(book: dict[str, Counter[str]]) -> dict[str, dict[str, int]]:
    return {a: {s: q for s, q in c.items() if q} for a, c in book.items() if any(c.values())}


def positions_by_orders(events: list[tuple[str, str, dict[str, Any]]]) -> dict[str, dict[str, int]]:
    """Shares per account and symbol that the recorded OrderSubmitted events imply (every order filled)."""
    book: dict[str, Counter[str]] = {}
    for _, kind, payload in events:
        if kind == "OrderSubmitted":
            order = payload["order"]
            _add(book, order["account_id"], order["symbol"], _signed(order))
    return _clean(book)


def problems(
    events: list[tuple[str, str, dict[str, Any]]],
    *,
    complete: tuple[str, str],
    clean: list[tuple[str, str, dict[str, Any]]],
    goldens: list[dict[str, dict[str, int]]] | None = None,
    alpaca: CountingAlpaca | None = None,
    alpaca_account: str | None = None,
) -> list[str]:
    """What is wrong with the store (and the fake Alpaca) after a crash and its rerun; [] when all is well.

    `complete` is the (stream, type) of the completion marker; `clean` the events of a run that never
    crashed, whose write-once week streams the rerun must reproduce, no more and no fewer; `goldens`
    the positions clean runs end with (one per moment the plan may have been made at)."""
    found: list[str] = []
    marker = [e for e in events if (e[0], e[1]) == complete]
    if len(marker) != 1:
        found.append(f"{len(marker)} {complete[1]} on {complete[0]}")
    planned = [o["client_order_id"] for _, t, p in events if t == "OrdersPlanned" for o in p["orders"]]
    recorded = Counter(p["order"]["client_order_id"] for _, t, p in events if t in ("OrderSubmitted", "OrderRejected"))
    for cid in planned:
        if recorded[cid] != 1:
            found.append(f"order {cid} recorded {recorded[cid]} times")
    extra = set(recorded) - set(planned)
    if extra:
        found.append(f"orders recorded but never planned: {sorted(extra)}")
    if any(t == "PlanAbandoned" for _, t, _ in events):
        found.append("a plan was abandoned though nothing moved the positions")
    accepted = Counter(p["order"]["client_order_id"] for _, t, p in events if t == "PaperOrderAccepted")
    filled = Counter(p["fill"]["client_order_id"] for _, t, p in events if t == "OrderFilled")
    submitted_at_alpaca = alpaca.submitted if alpaca else Counter()
    for name, counts in (("paper ledger", accepted), ("audit log fills", filled), ("Alpaca", submitted_at_alpaca)):
        twice = {cid: n for cid, n in counts.items() if n > 1}
        if twice:
            found.append(f"{name}: more than once {twice}")
    for cid in planned:
        if accepted[cid] + submitted_at_alpaca[cid] != 1:
            found.append(f"order {cid} reached a broker {accepted[cid] + submitted_at_alpaca[cid]} times")

    # Write-once week streams: the rerun writes what the clean run wrote, once.
    def once(evs: list[tuple[str, str, dict[str, Any]]]) -> Counter[tuple[str, str]]:
        return Counter(
            (s, t) for s, t, _ in evs if s.startswith("week:") and not s.endswith(":orders") and t != "PlanAbandoned"
        )

    if once(events) != once(clean):
        diff = (once(events) - once(clean)) + Counter({k: -v for k, v in (once(clean) - once(events)).items()})
        found.append(f"week streams differ from a clean run: {dict(diff)}")
    implied = positions_by_orders(events)
    if goldens and implied not in goldens:
        found.append(f"orders imply {implied}, a clean run {' or '.join(map(str, goldens))}")
    sent = {p["order"]["client_order_id"]: p["order"] for _, t, p in events if t == "OrderSubmitted"}
    for _, t, p in events:
        if t == "OrderFilled" and p["fill"]["client_order_id"] in sent:
            order, fill = sent[p["fill"]["client_order_id"]], p["fill"]
            if (order["symbol"], order["side"], order["qty"]) != (fill["symbol"], fill["side"], fill["qty"]):
                found.append(f"fill {fill} is not its order {order}")
    ledger: dict[str, Counter[str]] = {}
    for _, t, p in events:
        if t == "PaperOrderAccepted":
            _add(ledger, p["order"]["account_id"], p["order"]["symbol"], _signed(p["order"]))
    held = _clean(ledger)
    if alpaca is not None and alpaca_account is not None and alpaca.positions():
        held[alpaca_account] = alpaca.positions()
    if held != implied:
        found.append(f"the brokers hold {held}, the recorded orders imply {implied}")
    return found
