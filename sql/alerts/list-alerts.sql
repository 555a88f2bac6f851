-- Alerts for people, newest first.
-- Parameters: only_open Bool, limit UInt32
SELECT alert_id, status, metric, level, alert_key, toString(opened_day) AS opened_day, toString(last_day) AS last_day,
       relative_increase, toString(extra_daily_cost) AS extra_daily_cost, currency, dominant_factor, summary,
       acknowledged, ack_reason
FROM cpp_alerts FINAL
WHERE NOT {only_open:Bool} OR status = 'open'
ORDER BY opened_day DESC, alert_key
LIMIT {limit:UInt32}
