-- What PostgreSQL does for each stored event, made cheaper (issue 13: a 520-week backtest's 442,866 events cost it
-- 36.7 s of CPU, most of it in the week-end COPYs). benchmarks/store_speed.py --compare schema (52 synthetic weeks'
-- events written as the sole writer writes them, median of 5 interleaved): the COPYs' server CPU 1.23 -> 0.82 s, the
-- table with its indexes 50.9 -> 62.5 MB.
--
-- A row over ~2 KB (a model call's record is ~4 KB of JSON, a quote ~2 KB) had its payload compressed with pglz and,
-- when still over ~2 KB, moved into the TOAST table (a TOAST row and index entry per chunk); every read decompressed.
-- toast_tuple_target 8160 (the most a heap page takes) keeps a row of up to ~8 KB whole in its heap page, as
-- written; a larger payload (a research pack, a snapshot, a discovery's suggestions: ~1% of the rows) is moved out
-- to TOAST as it is (STORAGE EXTERNAL), not compressed first (pglz was still ~4% of PostgreSQL's CPU for those
-- alone; EXTERNAL's share of the saving above: 1.06 -> 0.97 s, 55 -> 61.5 MB). Only rows written from now on: the
-- table is not rewritten, and a read cannot tell how a value was stored.
ALTER TABLE events SET (toast_tuple_target = 8160);
ALTER TABLE events ALTER COLUMN payload SET STORAGE EXTERNAL;

-- An index no query needs, updated at every insert: (type, id). A type's reads are served by (type, txid) (migration
-- 0010) and sort by id what they found, a type's rows; the first of a type, read with LIMIT 1, by the primary key.
-- EXPLAIN of each reader: storage/event_copies.py, event_store.py, ask_queries.py, metric_totals.py, llm/budget.py,
-- app/memory_queries.py, app/queries.py. (account_id, id) stays: `ask`'s latest events of an account (ORDER BY id
-- DESC LIMIT 50) would otherwise walk the primary key back through the whole table for an account whose events
-- are all old (a review measured 0.45 ms with it, 730 ms without, on 300k events: growing with the table, and
-- beyond `ask`'s statement timeout on a live database of some years).
DROP INDEX IF EXISTS events_type_idx;
