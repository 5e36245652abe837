-- What PostgreSQL does for each stored event, made cheaper (issue 13: a 520-week backtest's 442,866 events cost it
-- 36.7 s of CPU, half of it in the week-end COPY). Measured by benchmarks/store_speed.py (52 synthetic weeks'
-- events, COPY per week as the sole writer does).
--
-- A row over ~2 KB (a model call's record is ~4 KB of JSON, a quote ~2 KB) was compressed with pglz and moved into
-- the TOAST table: compressing, then a TOAST row and a TOAST index entry per chunk, and decompressing at every read.
-- toast_tuple_target 8160 (the most a heap page takes) keeps a row of up to ~8 KB whole in its heap page, as
-- written; a larger payload (a research pack, a snapshot, a discovery's suggestions: ~1% of the rows) is moved out
-- to TOAST as it is (STORAGE EXTERNAL), not compressed first (pglz was still ~4% of PostgreSQL's CPU for those
-- alone). Only rows written from now on: the table is not rewritten, and a read cannot tell how a value was stored.
-- Measured on 52 weeks' events: the weekly COPYs' server CPU 2.16 -> 1.59 s with the indexes below (median of 4),
-- and 1.06 -> 0.97 s for EXTERNAL alone (median of 5); the table and its indexes 50.8 -> 61.5 MB.
ALTER TABLE events SET (toast_tuple_target = 8160);
ALTER TABLE events ALTER COLUMN payload SET STORAGE EXTERNAL;

-- Two indexes no query needs, each updated at every insert. (account_id, id): every read of an account's events is
-- served as well by (account_id, type, id) or (account_id, txid) (migration 0010) and sorts by id what it found, an
-- account's rows; (type, id): by (type, txid), which a type's reads then sort by id (a type's rows; the first of a
-- type, read with LIMIT 1, by the primary key). EXPLAIN of each reader: storage/event_copies.py, event_store.py,
-- ask_queries.py, metric_totals.py, llm/budget.py, app/memory_queries.py, app/queries.py.
DROP INDEX IF EXISTS events_account_idx;
DROP INDEX IF EXISTS events_type_idx;
