-- Pools with traffic in hours of [from, to) the bill covers for other pools
-- but not for them: requests attribution could not give any cost (the
-- unknown_pool_requests of coverage_daily), by pool, largest first. Traffic
-- from the hourly groups (request_hours), the bill from pool_cost, both as
-- the last attribution of each day wrote them.
-- Parameters: from DateTime, to DateTime (exclusive), limit UInt32
SELECT pool_id, sum(requests) AS requests, toString(min(hour)) AS first_hour, toString(max(hour)) AS last_hour
FROM request_hours
WHERE hour >= {from:DateTime('UTC')} AND hour < {to:DateTime('UTC')}
  AND hour IN (
      SELECT period_start FROM pool_cost
      WHERE period_start >= {from:DateTime('UTC')} AND period_start < {to:DateTime('UTC')})
  AND (pool_id, hour) NOT IN (
      SELECT pool_id, period_start FROM pool_cost
      WHERE pool_id != '' AND period_start >= {from:DateTime('UTC')} AND period_start < {to:DateTime('UTC')})
GROUP BY pool_id
ORDER BY requests DESC, pool_id
LIMIT {limit:UInt32}
