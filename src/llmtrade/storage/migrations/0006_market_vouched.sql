-- Ranges of cached bars that passed market/validation.py as read from the cache (storage/bar_cache.py
-- `vouch`): a later read of a range inside one is not validated again. `store` and `forget` drop every
-- vouch overlapping what they change, in their own transaction, so a vouch never outlives its rows.
CREATE TABLE market_vouched (
    synthetic  boolean     NOT NULL,
    symbol     text        NOT NULL,
    start_day  date        NOT NULL,
    end_day    date        NOT NULL,
    vouched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (synthetic, symbol, start_day, end_day)
);
