-- The bad rows of a staged Parquet file: a row's first problem, as the CSV path reports it.
SELECT
    line,
    problems[1].1 AS field,
    concat(problems[1].1, ': ', problems[1].2) AS reason,
    raw
FROM {staging:Identifier}
WHERE notEmpty(problems)
ORDER BY line;
