-- The similar-setups text ranking (memory/similar.py) searches a narrow copy of the setups' 256-dimension vectors
-- instead of memory_setups itself. A memory_setups row (thesis, record, outcome, vector) is ~2 kB: over a third of
-- them have their vector moved out to TOAST, so each HNSW candidate the ranking re-scores cost a heap page, a
-- TOAST index probe and a TOAST page, spread over 390 MB that shared_buffers (128 MB) cannot hold. Here a row is
-- ~1.1 kB, stored in line (STORAGE PLAIN: never toasted), 7 to a page. Measured on benchmarks/memory_search.py's
-- 100k setups at hnsw.ef_search 100 (EXPLAIN BUFFERS, which the machine's load does not move): the ranking touches
-- 970 shared buffers at p50 instead of 1,106, its server CPU time falls by about a quarter; recall@10 against an
-- exact scan stays 1.0 (the same graph parameters as 0008: m = 8, ef_construction = 128).
--
-- The copy follows memory_setups by triggers (insert, outcome arrival, delete, truncate), so every writer of the
-- projection -- remember, `memory rebuild`, the benchmark's bulk fill -- keeps it whole without knowing of it.
-- Only the packaged embedder's 256-dimension vectors are copied: other models' are searched exactly, in
-- memory_setups.
SET LOCAL maintenance_work_mem = '256MB';  -- the graph is built in memory, not spilled, up to ~250k setups

CREATE TABLE memory_setup_vectors (
    memory_id        text        PRIMARY KEY,
    visible_from     timestamptz,             -- the setup's outcome_known_at: recalled only once it is < as-of
    embedding_model  text        NOT NULL,
    embedding        vector(256) NOT NULL
);
ALTER TABLE memory_setup_vectors ALTER COLUMN embedding SET STORAGE PLAIN;

INSERT INTO memory_setup_vectors (memory_id, visible_from, embedding_model, embedding)
    SELECT memory_id, outcome_known_at, embedding_model, embedding::vector(256)
    FROM memory_setups WHERE embedding_dims = 256 ORDER BY memory_id;

CREATE FUNCTION memory_setup_vectors_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE memory_setup_vectors;
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        DELETE FROM memory_setup_vectors WHERE memory_id = OLD.memory_id;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.embedding_dims = 256 THEN
        INSERT INTO memory_setup_vectors (memory_id, visible_from, embedding_model, embedding)
        VALUES (NEW.memory_id, NEW.outcome_known_at, NEW.embedding_model, NEW.embedding::vector(256));
    END IF;
    RETURN NULL;
END;
$$;

-- An outcome's arrival (memory/store.py's _FILL_OUTCOME) moves only the visibility time: the vector stays.
CREATE FUNCTION memory_setup_vectors_visible() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE memory_setup_vectors SET visible_from = NEW.outcome_known_at WHERE memory_id = NEW.memory_id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER memory_setup_vectors_insert_delete
    AFTER INSERT OR DELETE ON memory_setups
    FOR EACH ROW EXECUTE FUNCTION memory_setup_vectors_follow();
CREATE TRIGGER memory_setup_vectors_vector_change
    AFTER UPDATE OF memory_id, embedding, embedding_model, embedding_dims ON memory_setups
    FOR EACH ROW EXECUTE FUNCTION memory_setup_vectors_follow();
CREATE TRIGGER memory_setup_vectors_outcome
    AFTER UPDATE OF outcome_known_at ON memory_setups
    FOR EACH ROW WHEN (OLD.outcome_known_at IS DISTINCT FROM NEW.outcome_known_at)
    EXECUTE FUNCTION memory_setup_vectors_visible();
CREATE TRIGGER memory_setup_vectors_truncate
    AFTER TRUNCATE ON memory_setups
    FOR EACH STATEMENT EXECUTE FUNCTION memory_setup_vectors_follow();

-- The graph of 0008 (m = 8, ef_construction = 128), now over the narrow rows; memory_setups' own is dropped.
CREATE INDEX memory_setup_vectors_hnsw ON memory_setup_vectors
    USING hnsw ((embedding::halfvec(256)) halfvec_cosine_ops) WITH (m = 8, ef_construction = 128);
DROP INDEX IF EXISTS memory_setups_embedding_256_half;
