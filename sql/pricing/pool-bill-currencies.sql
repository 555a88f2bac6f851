-- Currencies a pool's cloud bill (every source but rate cards, as it stands)
-- is in: a card for the pool must use the same one.
-- Parameters: pool String
SELECT DISTINCT toString(billing_currency) AS currency
FROM billing_current_by_source
WHERE pool_id = {pool:String} AND source != 'rate-card'
ORDER BY currency
