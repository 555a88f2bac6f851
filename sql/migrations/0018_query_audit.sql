-- Every request the query endpoint of `inferledger run` answered, refusals
-- included: who asked, what, when, how much it read and returned, how long it
-- took and how it ended. `inferledger access log` reads it. Kept 180 days
-- (the TTL drops whole days as the engine merges).
--
-- Written by the service in small batches (about one a second), so a query's
-- row appears within a few seconds of its answer.
CREATE TABLE IF NOT EXISTS query_audit
(
    event_time     DateTime64(3, 'UTC')     COMMENT 'When the request arrived',
    user           LowCardinality(String)   COMMENT 'The authenticated user; the name claimed when authentication failed; empty when none was given',
    authenticated  Bool                     COMMENT 'Whether the credentials were valid',
    scope          LowCardinality(String)   COMMENT 'The user''s scope as text: all, teams: a, b or tenants: x',
    query_id       String                   COMMENT 'The query id given by the client or made by the endpoint (X-ClickHouse-Query-Id)',
    query          String                   COMMENT 'The query text as received, cut at 64 KiB',
    query_hash     FixedString(64)          COMMENT 'SHA-256 of the whole query text in hex: finds repeats of a query however long',
    outcome        LowCardinality(String)   COMMENT 'ok, error (the engine or a rule refused it), unauthenticated, limited (a limit answered 429) or cancelled',
    error_code     UInt32                   COMMENT 'ClickHouse error code of a query that did not succeed; 0 when it did',
    error          String                   COMMENT 'The error message returned to the client; empty when it succeeded',
    result_rows    Nullable(UInt64)         COMMENT 'Rows returned, where the engine reported them',
    result_bytes   UInt64                   COMMENT 'Bytes of output sent (before any compression of the response)',
    read_rows      Nullable(UInt64)         COMMENT 'Rows the engine read, where it reported them',
    duration_ms    UInt32                   COMMENT 'From the request''s arrival to the end of its answer',
    client         String                   COMMENT 'The client''s address and its User-Agent'
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(event_time)
ORDER BY (event_time, user)
TTL toDateTime(event_time) + INTERVAL 180 DAY DELETE
SETTINGS ttl_only_drop_parts = 1;
