-- The bad rows of a staged Parquet file: every problem of a row, the first one's column as its field.
SELECT
    line,
    problems[1].1 AS field,
    arrayStringConcat(arrayMap(p -> concat(p.1, ': ', p.2), problems), '; ') AS reason,
    raw
FROM {staging:Identifier}
WHERE notEmpty(problems)
ORDER BY line;
