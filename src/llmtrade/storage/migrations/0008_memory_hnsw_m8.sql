-- The similar-setups text ranking's HNSW graph (0007) rebuilt with 8 links a node instead of 16: each step of
-- the search reads half as many neighbours. Measured on benchmarks/memory_search.py's 100k setups at
-- hnsw.ef_search 100 (EXPLAIN BUFFERS, which the machine's load does not move): the index scan touches 1,086
-- shared buffers at p50 instead of 1,344 (1,375 instead of 1,781 at p95), the whole search statement 1,364
-- instead of 1,614; the index is 71 MB instead of 80 MB; recall@10 of the text ranking against an exact scan
-- stays 1.0 and of the fused top 10 0.9995, as at 16 (its 40-deep ranking: 0.997 instead of 0.999).
-- ef_construction stays 128 (0007's reason: at 64 a query could find none of its true neighbours).
SET LOCAL maintenance_work_mem = '256MB';  -- the graph is built in memory, not spilled, up to ~250k setups
DROP INDEX IF EXISTS memory_setups_embedding_256_half;
CREATE INDEX memory_setups_embedding_256_half ON memory_setups
    USING hnsw ((embedding::halfvec(256)) halfvec_cosine_ops) WITH (m = 8, ef_construction = 128)
    WHERE embedding_dims = 256;
