-- 0017 and 0018 read an old wait (recorded before errors.Waiting) as one when its run holds a StageDeferred of the
-- stage that failed. The checkpoint's price wait, the commonest (a price a minute late), did not: its `complete` stage
-- wrote the StageDeferred under `prepare` (the stage that found the accounts unpriced: workflows/checkpoint_trade.py
-- `_defer` before errors.Waiting, e.g. 4e19bba4), then failed itself, StageFailed and RunFailed ("stage 'complete'
-- failed: checkpoint ... not judged yet, ...") of stage complete. So after the upgrade trace still said it failed,
-- llmtrade_stage_failures_total still counted it, and `status` read "stopped to wait: stage 'complete' failed: ...".
-- Both upcasts now take a StageDeferred of `prepare` as one of `complete`: only the checkpoint has both stages (the
-- postmortem's `complete` stage has no `prepare`), and its `complete` raised a plain TemporaryError only through that
-- wait. The events are not changed (migration 0001 refuses it).
CREATE OR REPLACE FUNCTION stage_failed_as_read(payload jsonb, schema_version integer, run text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN $2 < 2 AND $1->>'error_type' = 'TemporaryError'
             AND EXISTS (SELECT 1 FROM events AS d
                         WHERE d.run_id = $3 AND d.type = 'StageDeferred'
                           AND (d.payload->>'stage' = $1->>'stage'
                                OR ($1->>'stage' = 'complete' AND d.payload->>'stage' = 'prepare')))
        THEN jsonb_set($1, '{error_type}', '"Waiting"')
        ELSE $1
    END
$$;

CREATE OR REPLACE FUNCTION run_failed_as_read(payload jsonb, run text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT jsonb_set($1, '{error}', to_jsonb(substr($1->>'error', length(deferred.prefix) + 1)))
         FROM (SELECT format('stage %L failed: ', stage) AS prefix
               FROM events AS d,
                    LATERAL (SELECT d.payload->>'stage'
                             UNION ALL SELECT 'complete' WHERE d.payload->>'stage' = 'prepare') AS s(stage)
               WHERE d.run_id = $2 AND d.type = 'StageDeferred') AS deferred
         WHERE $1->>'exit_code' = '75' AND starts_with($1->>'error', deferred.prefix)
         LIMIT 1),
        $1)
$$;

-- The metric totals folded such a stage as a failure: the next refresh rebuilds them from every event (as a raised
-- logic version does; metric_totals_refresh sets its own version back when it is done).
UPDATE metric_totals_state SET version = 0;
