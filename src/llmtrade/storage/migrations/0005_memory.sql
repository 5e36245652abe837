-- The committee's memory (memory/): projections of the *Remembered events (domain/memory.py), rebuilt
-- from them at any time (`llmtrade memory rebuild`); the events are the source of truth.
-- Every vector is stored with the model and the dimension count that made it: a change of model is
-- seen, and `memory rebuild` re-embeds.
CREATE EXTENSION IF NOT EXISTS vector;

-- Which memory ids are stored (the write-once key: a rerun writes nothing twice) and the event of each.
CREATE TABLE memory_items (
    memory_id  text   PRIMARY KEY,
    kind       text   NOT NULL,   -- setup | outcome | condition | lesson | symbol
    event_id   bigint NOT NULL
);

CREATE TABLE memory_conditions (
    memory_id  text        PRIMARY KEY,
    week_id    date        NOT NULL,
    known_at   timestamptz NOT NULL,
    session    date        NOT NULL,
    names      text[]      NOT NULL,
    vals       float8[]    NOT NULL,   -- raw values, NULL where missing; standardised only when compared
    event_id   bigint      NOT NULL
);
CREATE INDEX memory_conditions_known ON memory_conditions (known_at, memory_id);

CREATE TABLE memory_setups (
    memory_id         text        PRIMARY KEY,
    week_id           date        NOT NULL,
    known_at          timestamptz NOT NULL,
    source            text        NOT NULL,
    author            text        NOT NULL,
    account_id        text        NOT NULL,
    instrument        text        NOT NULL,
    direction         text        NOT NULL,
    conviction        smallint    NOT NULL,
    record            jsonb       NOT NULL,   -- the Setup as remembered
    embedding         vector      NOT NULL,   -- thesis and indicators
    embedding_model   text        NOT NULL,
    embedding_dims    integer     NOT NULL,
    event_id          bigint      NOT NULL,
    -- Filled when the outcome arrives; a setup is recalled only once outcome_known_at < as_of.
    outcome           jsonb,
    outcome_known_at  timestamptz,
    week_return       float8,
    outcome_event_id  bigint
);
-- Point-in-time and per-symbol filters: btree, scanned exactly.
CREATE INDEX memory_setups_instrument ON memory_setups (instrument, outcome_known_at);
CREATE INDEX memory_setups_outcome_known ON memory_setups (outcome_known_at);
CREATE INDEX memory_setups_week_account ON memory_setups (week_id, account_id);

CREATE TABLE memory_lessons (
    memory_id        text        PRIMARY KEY,
    week_id          date        NOT NULL,
    known_at         timestamptz NOT NULL,
    account_id       text        NOT NULL,
    instrument       text,
    text             text        NOT NULL,
    embedding        vector      NOT NULL,
    embedding_model  text        NOT NULL,
    embedding_dims   integer     NOT NULL,
    event_id         bigint      NOT NULL
);
CREATE INDEX memory_lessons_week_account ON memory_lessons (week_id, account_id);
CREATE INDEX memory_lessons_instrument ON memory_lessons (instrument, known_at);

CREATE TABLE memory_symbols (
    memory_id        text        PRIMARY KEY,
    week_id          date        NOT NULL,
    known_at         timestamptz NOT NULL,
    instrument       text        NOT NULL,
    text             text        NOT NULL,
    embedding        vector      NOT NULL,
    embedding_model  text        NOT NULL,
    embedding_dims   integer     NOT NULL,
    event_id         bigint      NOT NULL
);
CREATE INDEX memory_symbols_instrument ON memory_symbols (instrument, known_at);

-- Approximate search over setups' text for the packaged embedder's 256 dimensions (the one table that grows
-- to many rows); other models' vectors are searched exactly. Queries use the same expression and predicate.
CREATE INDEX memory_setups_embedding_256 ON memory_setups
    USING hnsw ((embedding::vector(256)) vector_cosine_ops) WITH (m = 16, ef_construction = 64)
    WHERE embedding_dims = 256;

-- Outcomes as they arrived (also copied onto their setup's row): an outcome may be remembered before its
-- setup, and a rebuild replays in event order.
CREATE TABLE memory_outcomes (
    setup_id     text        PRIMARY KEY,
    known_at     timestamptz NOT NULL,
    record       jsonb       NOT NULL,
    week_return  float8      NOT NULL,
    event_id     bigint      NOT NULL
);

-- Vectors already paid for, one per (model, dimensions, text): a rebuild or a replay re-embeds for free.
-- A cache, not a record: the calls are recorded as EmbeddingCallCompleted/Failed events.
CREATE TABLE embedding_cache (
    key         text        PRIMARY KEY,   -- sha256 of model, dimensions and text
    model       text        NOT NULL,
    dims        integer     NOT NULL,
    vec         float4[]    NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- The numeric ranking's fast path: one instrument's setups of one direction and conviction in given weeks.
CREATE INDEX memory_setups_numeric ON memory_setups (instrument, direction, conviction, week_id);
