-- The append-only event store (DESIGN.md section 5).
CREATE TABLE events (
    id             bigserial PRIMARY KEY,
    type           text        NOT NULL CHECK (type <> ''),
    stream         text        NOT NULL CHECK (stream <> ''),
    version        integer     NOT NULL CHECK (version > 0),
    week_id        date,
    account_id     text,
    run_id         text,
    occurred_at    timestamptz NOT NULL,
    payload        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    schema_version integer     NOT NULL DEFAULT 1,
    CONSTRAINT events_stream_version_key UNIQUE (stream, version)
);

CREATE INDEX events_week_idx ON events (week_id, id);
CREATE INDEX events_run_idx ON events (run_id, id);
CREATE INDEX events_type_idx ON events (type, id);
CREATE INDEX events_account_idx ON events (account_id, id);

CREATE FUNCTION events_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_refuse_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
