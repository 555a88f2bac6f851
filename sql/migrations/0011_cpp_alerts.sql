-- CPP regression alerts: episodes, their notifications, and which days were evaluated.
-- ClickHouse is append-friendly, so an alert is never updated in place: every
-- change writes a new row with a higher version, and readers use FINAL.

CREATE TABLE IF NOT EXISTS cpp_alerts
(
    alert_id              String                   COMMENT 'Stable id of the episode: a hash of the key and the day it opened',
    alert_key             String                   COMMENT 'model_id/feature_id/tenant_id/currency (tenant empty unless alerts.byTenant)',
    model_id              LowCardinality(String)   COMMENT 'Model',
    feature_id            LowCardinality(String)   COMMENT 'Product feature',
    tenant_id             String                   COMMENT 'Tenant; empty when alerts are not per tenant',
    currency              LowCardinality(String)   COMMENT 'Currency of every amount of the alert',
    metric                LowCardinality(String)   COMMENT 'Metric that fired: loaded (fully loaded CPP, what is paid) or used (GPU time actually used)',
    status                LowCardinality(String)   COMMENT 'open or resolved',
    opened_day            Date                     COMMENT 'UTC day on which the episode opened',
    last_day              Date                     COMMENT 'Last UTC day evaluated for the episode',
    opened_at             DateTime64(3, 'UTC')     COMMENT 'When the episode was opened',
    updated_at            DateTime64(3, 'UTC')     COMMENT 'When this version was written',
    resolved_at           Nullable(DateTime64(3, 'UTC')) COMMENT 'When it resolved; NULL while open',
    baseline_day          Date                     COMMENT 'The median comparable day the change is measured from',
    baseline_cpp          Decimal(38, 12)          COMMENT 'CPP of the fired metric on the baseline day (exact: cost / requests)',
    observed_cpp          Decimal(38, 12)          COMMENT 'CPP of the fired metric on last_day',
    baseline_loaded_cpp   Decimal(38, 12)          COMMENT 'Fully loaded CPP, baseline (median day of the loaded metric)',
    observed_loaded_cpp   Decimal(38, 12)          COMMENT 'Fully loaded CPP on last_day',
    baseline_used_cpp     Decimal(38, 12)          COMMENT 'Used CPP, baseline (median day of the used metric)',
    observed_used_cpp     Decimal(38, 12)          COMMENT 'Used CPP on last_day',
    relative_increase     Float64                  COMMENT 'observed / baseline - 1 of the fired metric',
    extra_daily_cost      Decimal(38, 12)          COMMENT '(observed - baseline) x requests of last_day: what the change costs per day at today''s traffic',
    requests              UInt64                   COMMENT 'Requests of the key on last_day',
    baseline_requests     UInt64                   COMMENT 'Requests of the key on the baseline day',
    dominant_factor       LowCardinality(String)   COMMENT 'price, idle, gpu_ms_per_request or mix: the factor adding most money per day',
    factors               String                   COMMENT 'JSON: every factor with its ratio and money per day, for both metrics',
    summary               String                   COMMENT 'The explanation as people read it',
    clear_windows         UInt32                   COMMENT 'Consecutive evaluated days under the resolve threshold',
    acknowledged          Bool                     COMMENT 'Someone acknowledged it (inferledger alerts ack)',
    ack_reason            LowCardinality(String)   COMMENT 'expected or planned; empty until acknowledged',
    ack_at                Nullable(DateTime64(3, 'UTC')) COMMENT 'When it was acknowledged',
    estimated             Bool                     COMMENT 'True when last_day''s billing is still an estimate',
    version               UInt64                   COMMENT 'Row version: the newest wins (read with FINAL)'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY alert_id;

-- One row per notification delivered: a retry after a crash never sends it again.
CREATE TABLE IF NOT EXISTS cpp_alert_deliveries
(
    dedupe_key   String                 COMMENT 'alert_id:transition (opened or resolved); also sent in the payload and the Idempotency-Key header',
    target       String                 COMMENT 'Webhook name (never its URL)',
    alert_id     String                 COMMENT 'Alert delivered',
    transition   LowCardinality(String) COMMENT 'opened or resolved',
    attempts     UInt32                 COMMENT 'HTTP attempts it took',
    delivered_at DateTime64(3, 'UTC')   COMMENT 'When the webhook accepted it'
)
ENGINE = ReplacingMergeTree(delivered_at)
ORDER BY (dedupe_key, target);

-- Which days were evaluated against which attribution of them: a restated day is evaluated again.
CREATE TABLE IF NOT EXISTS cpp_alert_evaluations
(
    day              Date                 COMMENT 'UTC day evaluated',
    attributed_at    DateTime64(3, 'UTC') COMMENT 'coverage_daily.attributed_at of the day when it was evaluated',
    keys             UInt64               COMMENT 'Keys with traffic that day',
    firing           UInt64               COMMENT 'Keys whose CPP met every condition',
    evaluated_at     DateTime64(3, 'UTC') COMMENT 'When'
)
ENGINE = ReplacingMergeTree(evaluated_at)
ORDER BY day;
