-- What the request writer needs of a staged unit (create-request-stage.sql), row by row in line order: the row's
-- place, whether it passed every rule, its id and its event hour (epoch hours). Read as RowBinary.
-- Parameters: stage Identifier
SELECT row_index, valid, request_id, toInt32(intDiv(toUnixTimestamp64Milli(ts), 3600000)) AS hour
FROM {stage:Identifier}
SETTINGS max_threads = 1, enable_analyzer = 0
