-- An alert on the current day, judged hourly before the day is complete:
-- how many of last_day's hours its numbers cover. Added with a default of
-- 24, so alerts written before (always on complete days) read back alike.

ALTER TABLE cpp_alerts
    ADD COLUMN IF NOT EXISTS window_hours UInt8 DEFAULT 24 COMMENT 'Hours of last_day (from 00:00 UTC) the numbers cover: 24 for a complete day, fewer while the current day is judged hour by hour';
