-- Attribution outputs: the public tables analysts, chargeback reports and
-- alerts read. All four are written only by `inferledger attribute`, one UTC
-- day at a time: a run computes a day into staging tables and swaps each
-- day partition in with REPLACE PARTITION, so re-running a day replaces it
-- atomically and a reader never sees a day counted twice or half-written.
-- Hence PARTITION BY day on every table.

-- One row per (billing period, pool, currency, model, version, feature, tenant, team).
CREATE TABLE IF NOT EXISTS cost_allocation
(
    period_start    DateTime('UTC')         COMMENT 'Start of the billing period (inclusive); requests starting in [period_start, period_end) belong to it',
    period_end      DateTime('UTC')         COMMENT 'End of the billing period (exclusive)',
    pool_id         LowCardinality(String)  COMMENT 'GPU pool (value of the pool tag on the bill)',
    model_id        LowCardinality(String)  COMMENT 'Model',
    model_version   LowCardinality(String)  COMMENT 'Model version; empty when the events had none',
    feature_id      LowCardinality(String)  COMMENT 'Product feature',
    tenant_id       String                  COMMENT 'Tenant / customer',
    team            LowCardinality(String)  COMMENT 'Team: from the event, else the feature or model mapping in config, else unassigned',
    requests        UInt64                  COMMENT 'Requests in the group',
    input_tokens    UInt64                  COMMENT 'Input tokens in the group',
    output_tokens   UInt64                  COMMENT 'Output tokens in the group',
    gpu_ms          Decimal(38, 3)          COMMENT 'GPU milliseconds used by the group',
    weight_basis    LowCardinality(String)  COMMENT 'What cost was split by: gpu_ms, tokens or requests (requests when the configured basis sums to 0)',
    cost            Decimal(38, 12)         COMMENT 'Fully loaded cost: the period''s billed cost spread over its traffic by weight, idle included. Sums to the pool-period cost exactly',
    used_cost       Decimal(38, 12)         COMMENT 'Utilised cost: cost of the GPU time actually used (billed cost x gpu_ms / capacity); equals cost when capacity is unknown',
    currency        LowCardinality(String)  COMMENT 'Currency of cost and used_cost; never summed across currencies',
    billing_version DateTime64(6, 'UTC')    COMMENT 'Newest billing version of the lines the period''s cost came from',
    estimated       Bool                    COMMENT 'True while any of those lines is still an estimate',
    attributed_at   DateTime64(3, 'UTC')    COMMENT 'When this row was computed'
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(period_start)
ORDER BY (period_start, pool_id, currency, model_id, feature_id, tenant_id, model_version, team);

-- One row per (billing period, pool, currency): where every unit of the bill went.
CREATE TABLE IF NOT EXISTS pool_cost
(
    period_start     DateTime('UTC')          COMMENT 'Start of the billing period (inclusive)',
    period_end       DateTime('UTC')          COMMENT 'End of the billing period (exclusive)',
    pool_id          LowCardinality(String)   COMMENT 'GPU pool; empty = billed cost without the pool tag (unallocated)',
    currency         LowCardinality(String)   COMMENT 'Currency of the cost columns',
    billed_cost      Decimal(38, 12)          COMMENT 'Cost of the period on the bill (configured basis: effective or billed cost)',
    allocated_cost   Decimal(38, 12)          COMMENT 'Part of billed_cost given to traffic (sum of cost_allocation.cost)',
    used_cost        Decimal(38, 12)          COMMENT 'Part of billed_cost for GPU time actually used (sum of cost_allocation.used_cost)',
    idle_cost        Decimal(38, 12)          COMMENT 'billed_cost - used_cost for tagged pools: capacity paid for and not used (all of it when there was no traffic)',
    unallocated_cost Decimal(38, 12)          COMMENT 'Billed cost without the pool tag (pool_id empty); 0 otherwise',
    capacity_gpu_ms  Nullable(Decimal(38, 3)) COMMENT 'GPU milliseconds paid for: instance-hours x GPUs per instance; NULL when an instance type is unknown',
    used_gpu_ms      Decimal(38, 3)           COMMENT 'GPU milliseconds used by the period''s requests',
    utilization      Nullable(Decimal(18, 6)) COMMENT 'used_gpu_ms / capacity_gpu_ms (can exceed 1 with batching); NULL when capacity is unknown',
    requests         UInt64                   COMMENT 'Requests attributed to the period',
    weight_basis     LowCardinality(String)   COMMENT 'What the cost was split by',
    billing_version  DateTime64(6, 'UTC')     COMMENT 'Newest billing version of the period''s lines',
    estimated        Bool                     COMMENT 'True while any of the period''s lines is an estimate',
    attributed_at    DateTime64(3, 'UTC')     COMMENT 'When this row was computed'
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(period_start)
ORDER BY (period_start, pool_id, currency);

-- Cost per prediction by UTC day and group: what analysts and reports query most.
CREATE TABLE IF NOT EXISTS cpp_daily
(
    day                Date                     COMMENT 'UTC day of the billing periods',
    model_id           LowCardinality(String)   COMMENT 'Model',
    model_version      LowCardinality(String)   COMMENT 'Model version',
    feature_id         LowCardinality(String)   COMMENT 'Product feature',
    team               LowCardinality(String)   COMMENT 'Team',
    tenant_id          String                   COMMENT 'Tenant / customer',
    currency           LowCardinality(String)   COMMENT 'Currency of the cost columns',
    requests           UInt64                   COMMENT 'Requests whose billing period has been billed (pending ones are in coverage_daily)',
    input_tokens       UInt64                   COMMENT 'Input tokens of those requests',
    output_tokens      UInt64                   COMMENT 'Output tokens of those requests',
    gpu_ms             Decimal(38, 3)           COMMENT 'GPU milliseconds of those requests',
    cost               Decimal(38, 12)          COMMENT 'Fully loaded cost (idle spread over traffic)',
    used_cost          Decimal(38, 12)          COMMENT 'Cost of the GPU time used',
    cpp                Decimal(38, 12)          COMMENT 'Cost per prediction: cost / requests',
    cost_per_1k_tokens Nullable(Decimal(38, 12)) COMMENT 'cost / (input + output tokens) x 1000; NULL without tokens',
    estimated          Bool                     COMMENT 'True while any underlying billing line is an estimate',
    attributed_at      DateTime64(3, 'UTC')     COMMENT 'When this row was computed'
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(day)
ORDER BY (day, tenant_id, model_id, feature_id, model_version, team, currency);

-- How much of each day's bill and traffic is attributed.
CREATE TABLE IF NOT EXISTS coverage_daily
(
    day                   Date                   COMMENT 'UTC day',
    currency              LowCardinality(String) COMMENT 'Currency of the cost columns; request counts repeat on each currency''s row',
    billed_cost           Decimal(38, 12)        COMMENT 'Billed cost of periods starting that day',
    allocated_cost        Decimal(38, 12)        COMMENT 'Given to traffic (fully loaded)',
    idle_cost             Decimal(38, 12)        COMMENT 'Capacity paid for and not used',
    unallocated_cost      Decimal(38, 12)        COMMENT 'Billed without the pool tag',
    requests              UInt64                 COMMENT 'Requests that day (deduplicated)',
    attributed_requests   UInt64                 COMMENT 'Requests whose pool-period is billed',
    pending_requests      UInt64                 COMMENT 'Requests in hours the bill does not cover yet; attributed when it lands',
    unknown_pool_requests UInt64                 COMMENT 'Requests in billed hours whose pool has no bill: a pool id missing from the tags, or a typo',
    attributed_at         DateTime64(3, 'UTC')   COMMENT 'When this row was computed'
)
ENGINE = MergeTree
PARTITION BY toYYYYMMDD(day)
ORDER BY (day, currency);
