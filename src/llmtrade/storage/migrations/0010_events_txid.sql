-- Each event's inserting transaction, so a refresh of an in-process copy (storage/event_copies.py) asks only for
-- what it could have missed instead of counting the selection's whole history on every look.
--
-- Ids come from a sequence, so a transaction can commit id N after N+1 was read. A copy used to catch that by
-- counting every row of its selection (an account's events, a type's) at each refresh: ~140 refreshes per weekly
-- run, each O(the account's history). A row the last read did not see belongs to a transaction still running
-- then or begun since, whose xid is therefore >= that read's snapshot xmin; with txid indexed next to account
-- and type, "rows written by a transaction at or after the last snapshot's xmin" is a bounded index read.
-- Measured (benchmarks/random_answers.py homes, one run-weekly, pg_stat index and sequential rows read on
-- events): week 6 17,000 -> 2,500 rows, week 46 149,500 -> 5,700.
--
-- xid8 (pg_current_xact_id, the top-level transaction's 64-bit id; PostgreSQL 13 or later) never wraps. Rows
-- written before this migration keep NULL: ALTER TABLE waits for every writer of the table, so they were
-- committed before it and no copy read after it can have missed them. No default on ADD COLUMN, so the table is
-- not rewritten; the default applies to rows written from now on (INSERT and the sole writer's COPY alike).
ALTER TABLE events ADD COLUMN txid xid8;
ALTER TABLE events ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
CREATE INDEX events_account_txid_idx ON events (account_id, txid);
CREATE INDEX events_type_txid_idx ON events (type, txid);
-- A copy's first read of an account's types (the paper book's, the orders') goes through those types' rows only,
-- not the account's model calls (a fifth of its rows, most of its bytes).
CREATE INDEX events_account_type_idx ON events (account_id, type, id);
