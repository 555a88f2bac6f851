-- Days already evaluated, with the attribution they were evaluated against.
-- Parameters: from Date, to Date
SELECT toString(day) AS day, toString(max(attributed_at)) AS attributed_at
FROM cpp_alert_evaluations FINAL
WHERE day >= {from:Date} AND day < {to:Date}
GROUP BY day
SETTINGS prefer_column_name_to_alias = 1
