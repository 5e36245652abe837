-- Cache of daily bars. Real and synthetic prices never share a row (synthetic is in the key),
-- so a live run cannot read a synthetic bar by accident.
CREATE TABLE market_bars (
    synthetic  boolean          NOT NULL,
    symbol     text             NOT NULL,
    day        date             NOT NULL,
    open       double precision NOT NULL,
    high       double precision NOT NULL,
    low        double precision NOT NULL,
    close      double precision NOT NULL,
    volume     double precision NOT NULL,
    source     text             NOT NULL,
    fetched_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (synthetic, symbol, day)
);

-- Which ranges have been fetched, so a range with holidays (no bar) still counts as cached.
CREATE TABLE market_fetches (
    id         bigserial   PRIMARY KEY,
    synthetic  boolean     NOT NULL,
    symbol     text        NOT NULL,
    start_day  date        NOT NULL,
    end_day    date        NOT NULL,
    provider   text        NOT NULL,
    fetched_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX market_fetches_lookup ON market_fetches (synthetic, symbol, start_day, end_day);
