-- Similar-setup search in one statement (memory/similar.py): smaller indexes, so what a search touches stays
-- in shared_buffers (128 MB by default, the embedded server's) at 100k setups.

-- The text ranking's HNSW index over half-precision copies of the packaged embedder's 256-dimension vectors:
-- 80 MB at 100k setups instead of 0005's 131 MB. It only picks the candidates; they are ranked by their
-- full-precision distance, read from the row the point-in-time filter reads anyway. ef_construction 128, not
-- 64: at 64 one benchmark query in 200 found none of its 10 true neighbours even at ef_search 100 (0 at 128).
SET LOCAL maintenance_work_mem = '256MB';  -- the graph is built in memory, not spilled, up to ~250k setups
DROP INDEX IF EXISTS memory_setups_embedding_256;
CREATE INDEX memory_setups_embedding_256_half ON memory_setups
    USING hnsw ((embedding::halfvec(256)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 128)
    WHERE embedding_dims = 256;

-- The numeric ranking's fast path answers from the index alone (one probe a week): no visit to the wide rows.
DROP INDEX IF EXISTS memory_setups_numeric;
CREATE INDEX memory_setups_numeric ON memory_setups (instrument, direction, conviction, week_id)
    INCLUDE (outcome_known_at, memory_id);

-- Every search reads the conditions' version (row count, highest event id) to know its cached copy is current.
CREATE INDEX memory_conditions_event ON memory_conditions (event_id);
