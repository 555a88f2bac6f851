/**
 * When the warehouse refuses an insert because of what a row holds (a value
 * it cannot parse), retrying the same insert fails forever and a collector
 * would stall on it. This finds the offending rows by bisection: the rows
 * are split in halves, each half inserted, a refused half split again, down
 * to single rows. Rows of accepted halves are stored exactly once (an insert
 * is one block: all or nothing); the refused ones come back with the
 * engine's message. k bad rows among n cost about 2k·log2(n) inserts.
 *
 * Any other failure (connection, timeout, memory, a schema problem) is not
 * the rows' fault: it is thrown, and the caller retries as before.
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

/** A row the warehouse refused: the engine's message, and the column it names when it names one. */
export interface RefusedByEngine {
  field: string;
  reason: string;
}

/** What the engine said, shortened to its first line, and the column it was reading. */
export function describeRefusal(err: unknown): RefusedByEngine {
  const message = err instanceof Error ? err.message : String(err);
  const field = /while reading the value of key ([A-Za-z_][A-Za-z0-9_]*)/.exec(message)?.[1] ?? /column[: ]+`?([A-Za-z_][A-Za-z0-9_]*)`?/.exec(message)?.[1] ?? '';
  const first = (message.split('\n')[0] ?? '').slice(0, 500);
  return { field, reason: `the warehouse refused the row: ${first}` };
}

/** Below this many rows, every row being refused is believed; above, it means the insert itself is wrong (a schema problem), not the rows. */
const ALL_REFUSED_SUSPECT = 8;

/**
 * Insert `rows` (each one JSONCompactEachRow line), isolating the rows the
 * engine refuses; `failure` is the error the whole insert already got.
 * Returns the refused rows by index. Throws when a failure is not about
 * content, or when every row of a larger set is refused.
 */
export async function insertIsolating(
  rows: readonly Buffer[],
  insert: (body: Buffer) => Promise<void>,
  failure: unknown,
): Promise<Map<number, RefusedByEngine>> {
  const refused = new Map<number, RefusedByEngine>();
  const attempt = async (from: number, to: number, known?: unknown): Promise<void> => {
    let err = known;
    if (err === undefined) {
      try {
        await insert(Buffer.concat(rows.slice(from, to)));
        return;
      } catch (e) {
        if (!isContentError(e)) throw e;
        err = e;
      }
    }
    if (to - from === 1) {
      refused.set(from, describeRefusal(err));
      return;
    }
    const middle = from + Math.floor((to - from) / 2);
    await attempt(from, middle);
    await attempt(middle, to);
  };
  await attempt(0, rows.length, failure);
  if (rows.length >= ALL_REFUSED_SUSPECT && refused.size === rows.length) throw failure instanceof Error ? failure : new Error(String(failure));
  return refused;
}
