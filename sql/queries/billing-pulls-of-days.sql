-- The newest pull of each day of a window for one account: whether it was
-- final and what it held, so the collector skips final days and unchanged pulls.
-- Parameters: account String, from Date, to Date (exclusive)
SELECT toString(day) AS pulled_day, estimated, content_hash, toString(billing_version) AS version
FROM billing_pulls FINAL
WHERE account = {account:String} AND day >= {from:Date} AND day < {to:Date}
