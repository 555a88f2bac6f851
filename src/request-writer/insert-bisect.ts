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
import { isContentError } from '../warehouse/content-errors.js';

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
