-- Budget alerts live in cpp_alerts beside CPP alerts (metric = 'budget'): one
-- table of episodes, so listing, acknowledging and notifying work the same.
-- These columns hold what a budget alert is about; CPP alerts leave them at
-- their defaults. Added with defaults, so rows written before read back alike.

ALTER TABLE cpp_alerts
    ADD COLUMN IF NOT EXISTS level         LowCardinality(String)    DEFAULT '' COMMENT 'Budget alerts: over (forecast above the budget) or warning (at warnAt of it); empty for CPP alerts',
    ADD COLUMN IF NOT EXISTS budget_by     LowCardinality(String)    DEFAULT '' COMMENT 'Budget alerts: team or tenant',
    ADD COLUMN IF NOT EXISTS owner         String                    DEFAULT '' COMMENT 'Budget alerts: the team or tenant the budget is for',
    ADD COLUMN IF NOT EXISTS budget_month  Nullable(Date)            COMMENT 'Budget alerts: first day of the month the budget and forecast are for',
    ADD COLUMN IF NOT EXISTS budget        Nullable(Decimal(38, 12)) COMMENT 'Budget alerts: the monthly budget (currency of the alert)',
    ADD COLUMN IF NOT EXISTS month_to_date Nullable(Decimal(38, 12)) COMMENT 'Budget alerts: fully loaded cost from the first of the month through last_day (idle spread as the chargeback report does)',
    ADD COLUMN IF NOT EXISTS run_rate      Nullable(Decimal(38, 12)) COMMENT 'Budget alerts: mean daily cost of the attributed days among the 7 ending on last_day',
    ADD COLUMN IF NOT EXISTS forecast      Nullable(Decimal(38, 12)) COMMENT 'Budget alerts: month_to_date + run_rate x days left in the month';

ALTER TABLE cpp_alerts COMMENT COLUMN metric 'Metric that fired: loaded (fully loaded CPP, what is paid), used (GPU time actually used) or budget (a monthly budget forecast)';
