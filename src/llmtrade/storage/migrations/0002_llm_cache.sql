-- Content-addressed cache of model answers: key = hash of (model, parameters, messages, schema).
-- Lets a run be replayed at no cost (`--replay`). A cache, not a record: the calls themselves are
-- recorded as events.
CREATE TABLE llm_cache (
    key               text PRIMARY KEY,
    model             text NOT NULL,
    content           text NOT NULL,
    prompt_tokens     integer NOT NULL DEFAULT 0,
    completion_tokens integer NOT NULL DEFAULT 0,
    cost_usd          double precision,
    created_at        timestamptz NOT NULL DEFAULT now()
);
