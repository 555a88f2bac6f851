-- The query endpoint's audit, newest first: `inferledger access log`.
-- Empty user or outcome: any.
-- Parameters: since DateTime64(3), user String, outcome String, limit UInt32
SELECT
    event_time,
    user,
    outcome,
    error_code,
    result_rows,
    result_bytes,
    duration_ms,
    scope,
    query_hash,
    query,
    error,
    client
FROM query_audit
WHERE event_time >= {since:DateTime64(3)}
  AND ({user:String} = '' OR user = {user:String})
  AND ({outcome:String} = '' OR outcome = {outcome:String})
ORDER BY event_time DESC
LIMIT {limit:UInt32}
