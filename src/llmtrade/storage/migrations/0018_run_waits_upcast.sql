-- The end of a run that stopped to wait before errors.Waiting (fa4423e8) reads in a wait's own words: upcast where it
-- is read, as 0017 does its stage's StageFailed. Then the StageError around the wait said "stage 'complete' failed:
-- checkpoint ... not judged yet, ...", and its RunFailed (exit 75, after a StageDeferred of that stage) kept that
-- text: `status` read "stopped to wait: stage 'complete' failed: ...", as did trace's wait line and the report, where
-- a wait recorded since says what it waits for and until when. `run_failed_as_read` gives such a RunFailed the wait's
-- own text (the part after the prefix), on every read of the store (storage/event_columns.py). Only that shape: exit
-- 75, a StageDeferred of stage S in its run, its error beginning "stage 'S' failed: " (StageError's words for any
-- other failure; a wait's own text since begins with the checkpoint or the stage's name, never so). Keyed by that
-- shape, not a schema version: a RunFailed written since cannot have it, and RunFailed's schema stays 1. The events
-- themselves are not changed (migration 0001 refuses it).
CREATE FUNCTION run_failed_as_read(payload jsonb, run text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(
        (SELECT jsonb_set($1, '{error}', to_jsonb(substr($1->>'error', length(deferred.prefix) + 1)))
         FROM (SELECT format('stage %L failed: ', d.payload->>'stage') AS prefix
               FROM events AS d WHERE d.run_id = $2 AND d.type = 'StageDeferred') AS deferred
         WHERE $1->>'exit_code' = '75' AND starts_with($1->>'error', deferred.prefix)
         LIMIT 1),
        $1)
$$;
