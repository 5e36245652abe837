"""Where benchmarks/memory_search.py's similar-setups read spends its time: each step timed alone, the server's
execution time and shared buffers of the statement (EXPLAIN), and the CPU time of the server backend; its timed
passes (first ask, asked again) and the walk that brings the whole HNSW graph into shared_buffers."""

from __future__ import annotations

import statistics
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from llmtrade.memory import similar
from llmtrade.memory.protocol import SetupQuery
from llmtrade.memory.store import PgMemory, setup_text


def percentiles(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100, method="inclusive")
    return f"p50 {q[49]:.2f} ms, p95 {q[94]:.2f} ms, p99 {q[98]:.2f} ms (n={len(samples)})"


def breakdown(conn: Any, memory: PgMemory, queries: list[tuple[SetupQuery, datetime]], ef: int) -> None:
    """Where a similar-setups read spends its time: each step of memory/similar.py's one-statement read, timed
    alone, and the server's own execution time (EXPLAIN ANALYZE) of the statement and of its HNSW part."""
    steps: dict[str, list[float]] = {}

    def timed(name: str, call: Any) -> Any:
        t = time.perf_counter()
        out = call()
        steps.setdefault(name, []).append((time.perf_counter() - t) * 1000)
        return out

    embedder = memory.embedder
    history = memory._history
    depth = max(10 * similar.CANDIDATES, similar.MIN_DEPTH)
    sql = similar._statement(embedder.dims == similar.HNSW_DIMS, 10, depth)
    conn.execute(similar._SETTINGS, (str(max(ef, depth + similar.TEXT_SLACK)),)).fetchone()
    all_params = []
    for query, as_of in queries:
        text = setup_text(query.thesis, query.indicators)
        vector = timed("embed query (uncached)", lambda t=text: similar.VectorBytes.of(embedder.embed([t])[0]))
        history._memo.clear()  # computed, not found held from the timed reads
        weeks = timed("condition distances (numpy)", lambda q=query, a=as_of: similar._week_params(q, history, a))
        params = {"v": vector, "model": embedder.model, "dims": embedder.dims, "t": as_of, **weeks}
        params |= {"instrument": query.instrument, "direction": query.direction, "conviction": query.conviction}
        all_params.append(params)
        timed("the statement (one round trip)", lambda p=params: conn.execute(sql, p, prepare=True).fetchall())
    server: list[float] = []
    hnsw: list[float] = []
    pages: dict[str, list[float]] = {}
    text_sql = similar._TEXT_HNSW.format(depth=depth, pool=depth + similar.TEXT_SLACK)
    for params in all_params:
        plan = conn.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params).fetchone()[0][0]
        server.append(float(plan["Execution Time"]))
        for name, (hit, read) in buffers(plan["Plan"]).items():
            pages.setdefault(name, []).append(hit + read)
            pages.setdefault(name + " read", []).append(read)
        plan = conn.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + text_sql, params).fetchone()[0]
        hnsw.append(float(plan[0]["Execution Time"]))
    # The server's own time, without the client's round trip and scheduling (which dominate on a loaded machine).
    steps["the statement, server execution only"] = server
    steps["its HNSW text ranking alone, server execution only"] = hnsw
    for name, samples in steps.items():
        print(f"    {name}: {percentiles(samples)}")
    # Pages touched do not depend on the machine's load: where the statement's work goes.
    for name, counts in pages.items():
        q = statistics.quantiles(counts, n=100, method="inclusive")
        print(f"    shared buffers, {name}: p50 {q[49]:.0f}, p95 {q[94]:.0f}, max {max(counts):.0f}")


def backend_cpu(conn: Any) -> Any:
    """A function giving the CPU time (ms) the connection's server process has used so far (Linux's schedstat,
    in ns; NaN where it cannot be read: another machine's server, another OS)."""
    path = Path(f"/proc/{conn.info.backend_pid}/schedstat")

    def read() -> float:
        try:
            return int(path.read_text().split()[0]) / 1e6
        except (OSError, ValueError, IndexError):
            return float("nan")

    return read


def buffers(plan: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """(hit, read) shared buffers of a plan (EXPLAIN FORMAT JSON): the whole statement and its index scans."""
    out = {"the statement": (plan["Shared Hit Blocks"], plan["Shared Read Blocks"])}

    def walk(node: dict[str, Any]) -> None:
        if "Index Name" in node:
            hit, read = out.get(node["Index Name"], (0, 0))
            out[node["Index Name"]] = (hit + node["Shared Hit Blocks"], read + node["Shared Read Blocks"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return out


def timed_pass(memory: PgMemory, conn: Any, queries: list[tuple[SetupQuery, datetime]]) -> dict[str, Any]:
    """Each query asked twice with the full protocol call, timed: `first` (neither the query's vector nor its
    week's condition distances held: a week's first read), `again` (both held: the same week's checkpoint and
    validator reads), in ms; `cpu` (first asks: the client thread's, the server backend's and both CPU ms);
    `answers` (the first asks' hits)."""
    out: dict[str, Any] = {"first": [], "again": [], "answers": []}
    cpu: dict[str, list[float]] = {"the client thread": [], "the server backend": [], "both": []}
    backend = backend_cpu(conn)
    for query, as_of in queries:
        similar._QUERY_VECTORS.clear()
        memory._history._memo.clear()
        server_before, client_before = backend(), time.thread_time()
        t = time.perf_counter()
        out["answers"].append(memory.similar_setups(query, as_of=as_of, limit=10))
        out["first"].append((time.perf_counter() - t) * 1000)
        client, server_ms = (time.thread_time() - client_before) * 1000, backend() - server_before
        cpu["the client thread"].append(client)
        cpu["the server backend"].append(server_ms)
        cpu["both"].append(client + server_ms)
        t = time.perf_counter()
        memory.similar_setups(query, as_of=as_of, limit=10)
        out["again"].append((time.perf_counter() - t) * 1000)
    out["cpu"] = cpu
    return out


def report(label: str, timed: dict[str, Any]) -> None:
    print(f"  similar setups (top 10, full call, first ask), {label}: {percentiles(timed['first'])}")
    print(f"  similar setups (top 10, full call, asked again), {label}: {percentiles(timed['again'])}")
    cpu = timed["cpu"]
    if cpu["the server backend"][0] == cpu["the server backend"][0]:  # not NaN: the backend's CPU is readable
        # CPU time spent, not waited for: what a loaded machine's queueing does not add (quiet, the time of a read
        # is about this plus ~0.1 ms of socket hand-over).
        for name, samples in cpu.items():
            print(f"    first ask, CPU time of {name}: {percentiles(samples)}")


def warm_graph(conn: Any) -> float:
    """Walk migration 0009's whole HNSW graph and its narrow vector rows once (an iterative scan to the end), so
    shared_buffers hold them as a server's do when it has held the memory since writing or rebuilding it (and
    they fit); seconds taken. pg_prewarm would read them straight, but pgserver's build has no contrib modules."""
    row = conn.execute("SELECT embedding::text FROM memory_setup_vectors ORDER BY memory_id LIMIT 1").fetchone()
    if row is None:
        return 0.0
    t = time.perf_counter()
    with conn.transaction():
        for setting in (
            "hnsw.iterative_scan = relaxed_order",
            "hnsw.max_scan_tuples = 2147483647",
            "hnsw.scan_mem_multiplier = 1000",
            "enable_seqscan = off",
            "enable_sort = off",
        ):
            conn.execute(f"SET LOCAL {setting}")
        conn.execute(
            "SELECT count(*) FROM (SELECT memory_id FROM memory_setup_vectors"
            " ORDER BY embedding::halfvec(256) <=> %s::vector(256)::halfvec(256) LIMIT 2147483647) AS walk",
            (row[0],),
        ).fetchone()
    return time.perf_counter() - t
