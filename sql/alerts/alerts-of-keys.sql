-- The newest version of the latest episode of every key that has one (open or resolved).
-- Parameters: none
SELECT *
FROM cpp_alerts FINAL
ORDER BY alert_key, opened_day DESC
LIMIT 1 BY alert_key
