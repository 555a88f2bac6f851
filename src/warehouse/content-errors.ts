/**
 * Whether the engine refused a statement because of the data it was given (a
 * value it cannot parse or store) rather than for anything else (connection,
 * timeout, memory, a schema problem). Data refused stays refused however
 * often it is sent: callers set it aside (bisecting an insert, parsing a unit
 * another way) instead of retrying.
 */

/** ClickHouse error codes that mean "this input text cannot be stored". */
const CONTENT_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  25, // CANNOT_PARSE_ESCAPE_SEQUENCE
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  128, // TOO_LARGE_ARRAY_SIZE
  131, // TOO_LARGE_STRING_SIZE
  321, // VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
  376, // CANNOT_PARSE_UUID
  377, // ILLEGAL_SYNTAX_FOR_DATA_TYPE
  407, // DECIMAL_OVERFLOW
  467, // CANNOT_PARSE_BOOL
  469, // VIOLATED_CONSTRAINT (a CHECK an operator put on the table)
  691, // UNKNOWN_ELEMENT_OF_ENUM
]);
const CONTENT_NAMES = /\((CANNOT_PARSE_[A-Z_]+|INCORRECT_DATA|CANNOT_CONVERT_TYPE|VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE|DECIMAL_OVERFLOW|UNKNOWN_ELEMENT_OF_ENUM|TOO_LARGE_STRING_SIZE|CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN|ILLEGAL_SYNTAX_FOR_DATA_TYPE|VIOLATED_CONSTRAINT)\)/;

/** The engine's numeric error code: chDB sets `clickhouseCode`, @clickhouse/client a numeric string `code`. */
function errorCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { clickhouseCode?: unknown; code?: unknown; message?: unknown };
  for (const value of [e.clickhouseCode, e.code]) {
    if (typeof value === 'number' && Number.isInteger(value)) return value;
    if (typeof value === 'string' && /^\d+$/.test(value)) return Number(value);
  }
  const match = typeof e.message === 'string' ? /^Code: (\d+)\./.exec(e.message) : null;
  return match ? Number(match[1]) : undefined;
}

/** Whether the warehouse refused the data itself (classified by error code, or the code's name in the message). */
export function isContentError(err: unknown): boolean {
  const code = errorCode(err);
  if (code !== undefined) return CONTENT_CODES.has(code);
  return err instanceof Error && CONTENT_NAMES.test(err.message);
}
