-- The level a budget episode opened at, so an escalation from warning to over
-- within the episode is announced once, and a failed announcement is owed by
-- later runs. Added with a default: episodes opened before it read back ''.

ALTER TABLE cpp_alerts
    ADD COLUMN IF NOT EXISTS opened_level LowCardinality(String) DEFAULT '' COMMENT 'Budget alerts: the level (warning or over) the episode opened at; empty for CPP alerts and for budget episodes opened before this column existed';

ALTER TABLE cpp_alert_deliveries COMMENT COLUMN dedupe_key 'alert_id:transition (opened, escalated or resolved); also sent in the payload and the Idempotency-Key header';
ALTER TABLE cpp_alert_deliveries COMMENT COLUMN transition 'opened, escalated (a budget forecast gone from warning to over) or resolved';
