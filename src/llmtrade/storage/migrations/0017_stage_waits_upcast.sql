-- A stage that stopped to wait recorded before errors.Waiting (fa4423e8) reads as a wait: upcast where it is read.
-- Then a stage waiting for a price, an owner's or its roles' providers recorded its StageDeferred, then a StageFailed
-- whose error_type was TemporaryError (the plain error the wait raised), then its run's RunFailed (exit 75). Its run
-- read as a wait (metric_run_status, 0016), its stage as a failure: trace listed it among the failures and
-- llmtrade_stage_failures_total counted it. Since errors.Waiting the StageFailed says error_type Waiting itself.
--
-- As an upcast (domain/events.py, after pyeventsourcing's `upcast_vN_vN+1`), keyed by the stored schema version:
-- StageFailed is at schema 2 from here, and a schema 1 StageFailed of a TemporaryError whose run recorded a
-- StageDeferred of the same stage is read as schema 2 says a wait: error_type Waiting. Its payload alone cannot say
-- it (a provider down raised the same TemporaryError, with no StageDeferred), so the step is here, where the run's
-- other events are, not in Python: the event store's reads (storage/event_copies.py `READ`, storage/ask_queries.py)
-- and the metrics (below; storage/metric_totals.py's full aggregate) read every StageFailed through it, so each
-- reader's own rule (a StageFailed whose error_type is Waiting is a wait) sees old waits as new ones. The events
-- themselves are not changed (migration 0001 refuses it). Schema 1 events written since errors.Waiting already say
-- Waiting and are read as they are.
CREATE FUNCTION stage_failed_as_read(payload jsonb, schema_version integer, run text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN $2 < 2 AND $1->>'error_type' = 'TemporaryError'
             AND EXISTS (SELECT 1 FROM events AS d
                         WHERE d.run_id = $3 AND d.type = 'StageDeferred' AND d.payload->>'stage' = $1->>'stage')
        THEN jsonb_set($1, '{error_type}', '"Waiting"')
        ELSE $1
    END
$$;

CREATE OR REPLACE FUNCTION metric_totals_refresh(alone boolean) RETURNS json
LANGUAGE plpgsql SET plan_cache_mode = force_custom_plan SET jit = off AS $$
DECLARE
    -- Raise it with any change to what is folded below: the next refresh then rebuilds the totals from every event.
    -- 2: an equity's row holds when it was valued (0014); 3: RunKilled (0015); 4: a run or a stage that stopped to
    -- wait (0016); 5: a stage's wait recorded before errors.Waiting read as one (0017)
    logic CONSTANT integer := 5;
    was_timeout text := current_setting('lock_timeout');
    state metric_totals_state;
    since xid8;  -- the horizon as read under the lock
    seen_before bigint[];
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'metric_totals_refresh needs READ COMMITTED (one snapshot a statement), not %',
            current_setting('transaction_isolation') USING ERRCODE = 'feature_not_supported';
    END IF;
    -- The totals are derived: a crash that loses the last refresh loses its horizon with them, and the next one
    -- reads those events again. So, when the call is a transaction of its own (`alone`: nothing the caller writes,
    -- whose events must be durable, commits with it), its commit need not wait for the WAL to reach the disk (a
    -- quarter of a refresh's time, measured on a loaded machine).
    IF alone THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    -- A refresh holding the lock takes milliseconds; waiting longer means something is stuck: give up (the caller
    -- falls back to the full aggregate) rather than hold the command's exit. A shorter timeout set is kept.
    IF was_timeout = '0' THEN
        PERFORM set_config('lock_timeout', '5s', true);
    END IF;
    SELECT * INTO STRICT state FROM metric_totals_state FOR UPDATE;
    PERFORM set_config('lock_timeout', was_timeout, true);
    -- A horizon past every xid this server has handed out comes from another server's history (a restored dump):
    -- its xids say nothing here, so start again, as after a change of logic.
    IF state.version <> logic OR state.horizon > pg_snapshot_xmax(pg_current_snapshot()) THEN
        DELETE FROM metric_counts;
        DELETE FROM metric_latest;
        state.horizon := NULL;
        state.counted := '{}';
    END IF;
    since := state.horizon;
    seen_before := state.counted;

    WITH scanned AS MATERIALIZED (
        SELECT e.id, e.txid, e.type, e.occurred_at, e.account_id, e.run_id, e.id = ANY (seen_before) AS seen,
               -- a call's record is kilobytes (toasted): only the few fields, with one detoast (jsonb_to_record);
               -- a StageFailed as read (stage_failed_as_read above)
               CASE WHEN e.type = 'StageFailed' THEN stage_failed_as_read(e.payload, e.schema_version, e.run_id)
                    WHEN e.type NOT IN ('LLMCallCompleted', 'LLMCallFailed') THEN e.payload END AS payload,
               r.model, r.source, r.prompt_tokens, r.completion_tokens, r.cost_usd
        FROM events AS e
        LEFT JOIN LATERAL jsonb_to_record(
                CASE WHEN e.type IN ('LLMCallCompleted', 'LLMCallFailed') THEN e.payload END)
            AS r(model text, source text, prompt_tokens bigint, completion_tokens bigint, cost_usd numeric) ON true
        WHERE e.type IN ('RunFinished', 'RunFailed', 'RunKilled', 'StageCompleted', 'StageFailed', 'LLMCallCompleted',
                         'LLMCallFailed', 'OrderSubmitted', 'OrderRejected', 'OrderFilled', 'BreakerUpdated',
                         'AccountValued', 'MarketProviderFailed', 'MarketDataRejected', 'RiskChecked')
          AND (since IS NULL OR e.txid >= since)
    ),
    fresh AS (SELECT * FROM scanned WHERE NOT seen),
    horizon AS (SELECT greatest(since, pg_snapshot_xmin(pg_current_snapshot())) AS h),
    counts AS (
        SELECT 'runs' AS family,
               ARRAY[payload->>'command', metric_run_status(type, payload, run_id)] AS labels,
               count(*) AS n, 0::numeric AS prompt, 0::numeric AS completion, 0::numeric AS cost
        FROM fresh WHERE type IN ('RunFinished', 'RunFailed', 'RunKilled') GROUP BY 2
        UNION ALL
        SELECT CASE WHEN payload->>'error_type' = 'Waiting' THEN 'stage_waits' ELSE 'stage_failures' END,
               ARRAY[payload->>'stage'], count(*), 0, 0, 0
        FROM fresh WHERE type = 'StageFailed' GROUP BY 1, 2
        UNION ALL
        SELECT 'calls', ARRAY[model, CASE WHEN type = 'LLMCallFailed' THEN 'live' ELSE source END,
                              CASE WHEN type = 'LLMCallFailed' THEN 'failed' ELSE 'ok' END],
               count(*), coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),
               coalesce(sum(cost_usd), 0)
        FROM fresh WHERE type IN ('LLMCallCompleted', 'LLMCallFailed') GROUP BY 2
        UNION ALL
        SELECT 'by_account',
               ARRAY[type, coalesce(account_id, payload->'order'->>'account_id', payload->'fill'->>'account_id')],
               count(*), 0, 0, 0
        FROM fresh WHERE type IN ('OrderSubmitted', 'OrderRejected', 'OrderFilled') GROUP BY 2
        UNION ALL
        SELECT 'market', ARRAY[type, payload->>'provider'], count(*), 0, 0, 0
        FROM fresh WHERE type IN ('MarketProviderFailed', 'MarketDataRejected') GROUP BY 2
        UNION ALL
        SELECT 'clamps', ARRAY[adjustment->>'rule'], count(*), 0, 0, 0
        FROM fresh, jsonb_array_elements(payload->'verdict'->'adjustments') AS adjustment
        WHERE type = 'RiskChecked' GROUP BY 2
    ),
    added AS (
        INSERT INTO metric_counts AS t (family, labels, n, prompt, completion, cost)
        SELECT * FROM counts
        ON CONFLICT (family, labels) DO UPDATE
        SET n = t.n + excluded.n, prompt = t.prompt + excluded.prompt,
            completion = t.completion + excluded.completion, cost = t.cost + excluded.cost
    ),
    candidates AS (
        SELECT 'run_end' AS family, ARRAY[payload->>'command'] AS labels, id::numeric AS rank,
               metric_run_status(type, payload, run_id) AS kind, NULL::boolean AS flag,
               extract(epoch FROM CASE WHEN type = 'RunKilled' THEN (payload->>'last_event_at')::timestamptz
                                       ELSE occurred_at END) AS at,
               coalesce((payload->>'duration_ms')::float8, 0) AS value
        FROM fresh WHERE type IN ('RunFinished', 'RunFailed', 'RunKilled')
        UNION ALL
        SELECT 'success', ARRAY[payload->>'command'], extract(epoch FROM occurred_at), NULL, NULL,
               extract(epoch FROM occurred_at), NULL
        FROM fresh WHERE type = 'RunFinished'
        UNION ALL
        SELECT 'stage', ARRAY[payload->>'stage'], id, NULL, NULL, NULL, (payload->>'duration_ms')::float8
        FROM fresh WHERE type = 'StageCompleted' AND NOT coalesce((payload->>'loaded')::boolean, false)
        UNION ALL
        SELECT 'breaker', ARRAY[payload->'state'->>'account_id'], id, NULL, (payload->'state'->>'halted')::boolean,
               NULL, NULL
        FROM fresh WHERE type = 'BreakerUpdated'
        UNION ALL
        SELECT 'equity', ARRAY[payload->>'account_id'], id, NULL, NULL, extract(epoch FROM occurred_at),
               (payload->>'equity')::float8
        FROM fresh WHERE type = 'AccountValued'
    ),
    latest AS (SELECT DISTINCT ON (family, labels) * FROM candidates ORDER BY family, labels, rank DESC),
    kept AS (
        INSERT INTO metric_latest AS t (family, labels, rank, kind, flag, at, value)
        SELECT * FROM latest
        ON CONFLICT (family, labels) DO UPDATE
        SET rank = excluded.rank, kind = excluded.kind, flag = excluded.flag, at = excluded.at, value = excluded.value
        WHERE excluded.rank > t.rank
    )
    UPDATE metric_totals_state
    SET version = logic,
        horizon = (SELECT h FROM horizon),
        -- what this snapshot saw at or above the new horizon: counted now or before, read again next time
        counted = (SELECT coalesce(array_agg(id ORDER BY id), '{}') FROM scanned WHERE txid >= (SELECT h FROM horizon)),
        rows_read = (SELECT count(*) FROM scanned),
        rows_added = (SELECT count(*) FROM fresh);

    -- Every row, by family and labels; storage/metric_totals.py gives each family its columns.
    RETURN json_build_array(
        (SELECT coalesce(json_agg(json_build_array(family, labels, n, prompt, completion, cost::float8)
                                  ORDER BY family, labels), '[]')
         FROM metric_counts),
        (SELECT coalesce(json_agg(json_build_array(family, labels, kind, flag, at, value) ORDER BY family, labels), '[]')
         FROM metric_latest));
END;
$$;
