-- The market conditions' version -- (row count, highest event id) of memory_conditions -- kept in one row by
-- triggers, so that reading it costs one row instead of a scan of every condition. Every similar-setups read checks
-- the conditions held in the process against it (memory/history.py, memory/similar.py): counted, it scanned the
-- whole table (40 pages of ~600-byte rows at 520 weeks), ~0.15 ms of the read's ~1.5 ms of server time at 100k
-- setups. The row holds exactly what counting would give in every snapshot: an insert adds one under the row's lock
-- (concurrent inserts queue on it, in commit order), anything else counts again.
CREATE TABLE memory_conditions_version (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    n         bigint  NOT NULL,   -- count(*)
    e         bigint  NOT NULL    -- coalesce(max(event_id), 0)
);
INSERT INTO memory_conditions_version (n, e) SELECT count(*), coalesce(max(event_id), 0) FROM memory_conditions;

CREATE FUNCTION memory_conditions_version_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE memory_conditions_version SET n = n + 1, e = greatest(e, NEW.event_id);
    ELSE
        -- A delete, an update or a truncate (`memory rebuild`): counted again. Memory writers hold the memory's
        -- advisory lock (memory/store.py), so no insert of theirs runs beside it.
        UPDATE memory_conditions_version
        SET n = (SELECT count(*) FROM memory_conditions), e = (SELECT coalesce(max(event_id), 0) FROM memory_conditions);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER memory_conditions_version_insert
    AFTER INSERT ON memory_conditions
    FOR EACH ROW EXECUTE FUNCTION memory_conditions_version_follow();
CREATE TRIGGER memory_conditions_version_change
    AFTER UPDATE OR DELETE OR TRUNCATE ON memory_conditions
    FOR EACH STATEMENT EXECUTE FUNCTION memory_conditions_version_follow();
