-- Projection of PostmortemWritten events: one row per week and account, rebuilt from the events
-- at any time (`week_summaries` is a convenience for reports, never the source of truth).
CREATE TABLE week_summaries (
    week_id           date             NOT NULL,
    account_id        text             NOT NULL,
    instrument        text,
    direction         text,
    start_equity      double precision NOT NULL,
    end_equity        double precision NOT NULL,
    week_pnl          double precision NOT NULL,
    week_return       double precision NOT NULL,
    realized_pnl      double precision NOT NULL,
    unrealized_pnl    double precision NOT NULL,
    instrument_return double precision,
    event_id          bigint           NOT NULL,
    PRIMARY KEY (week_id, account_id)
);
