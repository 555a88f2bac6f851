-- Bookkeeping of the Cost Explorer collector.

-- Every paid API call ($0.01 a page): what was asked, what came back, what it cost.
CREATE TABLE IF NOT EXISTS billing_api_calls
(
    called_at    DateTime64(3, 'UTC')   COMMENT 'When the call was made',
    run_id       UUID                   COMMENT 'The collection run',
    account      String                 COMMENT 'Account (payer or assumed role) the call was made for',
    operation    LowCardinality(String) COMMENT 'API operation, e.g. GetCostAndUsage',
    granularity  LowCardinality(String) COMMENT 'HOURLY or DAILY',
    period_start DateTime('UTC')        COMMENT 'Start of the requested time period',
    period_end   DateTime('UTC')        COMMENT 'End of the requested time period (exclusive)',
    page         UInt32                 COMMENT 'Page number within the request, from 1',
    groups       UInt32                 COMMENT 'Groups returned by the page',
    outcome      LowCardinality(String) COMMENT 'ok, or the error name (e.g. LimitExceededException)',
    cost_usd     Decimal(18, 4)         COMMENT 'What AWS charges for the call'
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(called_at)
ORDER BY (called_at, account);

-- One row per (account, UTC day) pulled: the version written and a hash of
-- its content, so a re-pull with unchanged data writes nothing, and final
-- (no longer estimated) days are not pulled again unless asked.
CREATE TABLE IF NOT EXISTS billing_pulls
(
    account         String                COMMENT 'Account the day was pulled for (billing_line_items.billing_account_id)',
    day             Date                  COMMENT 'UTC day of the charge periods',
    billing_version DateTime64(6, 'UTC')  COMMENT 'Version the rows were written with (unchanged pulls keep the previous one)',
    content_hash    String                COMMENT 'SHA-256 of the day''s rows as pulled',
    estimated       Bool                  COMMENT 'True while Cost Explorer marks any period of the day Estimated',
    granularity     LowCardinality(String) COMMENT 'HOURLY or DAILY',
    rows            UInt32                COMMENT 'Rows of the day',
    pulled_at       DateTime64(3, 'UTC')  COMMENT 'When it was pulled'
)
ENGINE = ReplacingMergeTree(pulled_at)
ORDER BY (account, day);
