-- Days the scheduled billing pull owes in [from, to): for any of the given
-- accounts, a day never pulled, a day whose newest pull was still estimated,
-- or a day of the open month (from open_from on), which Cost Explorer may
-- still restate. Oldest first.
-- Parameters: accounts Array(String), from Date, to Date (exclusive), open_from Date
SELECT DISTINCT toString(days.day) AS day
FROM
(
    SELECT arrayJoin(arrayMap(i -> {from:Date} + i, range(toUInt32(greatest(dateDiff('day', {from:Date}, {to:Date}), 0))))) AS day
) AS days
CROSS JOIN
(
    SELECT arrayJoin({accounts:Array(String)}) AS account
) AS accounts
LEFT JOIN
(
    SELECT account, day, estimated, toUInt8(1) AS pulled
    FROM billing_pulls FINAL
    WHERE day >= {from:Date} AND day < {to:Date}
) AS pulls ON pulls.account = accounts.account AND pulls.day = days.day
WHERE pulls.pulled = 0 OR pulls.estimated OR days.day >= {open_from:Date}
ORDER BY day
