-- The hourly groups of a day's hours that stay as they are while others are rebuilt.
-- Parameters: day_start DateTime, day_end DateTime, hours Array(DateTime) (the hours rebuilt)
SELECT *
FROM request_hours
WHERE hour >= {day_start:DateTime('UTC')} AND hour < {day_end:DateTime('UTC')}
  AND hour NOT IN {hours:Array(DateTime('UTC'))}
