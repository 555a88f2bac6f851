-- The attribution settings recorded for the database, newest first: the first
-- row is the current settings, the rest their history.
-- Parameters: limit UInt32 (1 for the current settings only)
SELECT
    toString(recorded_at) AS recorded_at,
    settings,
    settings_hash,
    toString(recorded_by) AS recorded_by,
    toString(reason) AS reason
FROM attribution_settings
ORDER BY recorded_at DESC, settings_hash DESC
LIMIT {limit:UInt32}
