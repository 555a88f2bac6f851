/**
 * One analyst query on the embedded engine, in a chDB connection of its own:
 * its limits and `readonly` set first, the output streamed chunk by chunk
 * (never held whole), and stopped in the engine when the reader goes away.
 *
 * Each query is marked with a comment of its own at the start of its text;
 * the engine's process list shows it, so `KILL QUERY` finds exactly that
 * query when its client disconnects, its caller aborts or the service stops.
 */
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ChdbQueryStream, Session, StreamChunk } from 'chdb';
import { loadChdb } from './embedded-engine.js';

/** An engine error with ClickHouse's code and name, as `@clickhouse/client` reports them. */
export class EngineError extends Error {
  override name = 'EngineError';
  constructor(message: string, readonly code: string, readonly type: string) {
    super(message);
  }
}

/** `Code: 60. DB::Exception: Unknown table ... (UNKNOWN_TABLE) (version 26.7.2.1)` into an EngineError. */
export function engineError(err: unknown): Error {
  const text = err instanceof Error ? err.message : String(err);
  // chDB may wrap the same exception twice ("Code: 164. DB::Exception: Code: 164. DB::Exception: ...").
  const inner = text.replace(/^(Code: \d+\. DB::Exception: )+/, '');
  const code = /^Code: (\d+)\./.exec(text)?.[1];
  if (code === undefined) return err instanceof Error ? err : new Error(text);
  const m = /^([\s\S]*?)(?:\.? \(([A-Z][A-Z0-9_]*)\))?(?: \(version [^)]*\))?(?:\. \([A-Z][A-Z0-9_]*\))?\.?\s*$/.exec(inner);
  return new EngineError((m?.[1] ?? inner).trim(), code, m?.[2] ?? 'UNKNOWN_EXCEPTION');
}

export interface AnalystRunOptions {
  /** The engine's data directory (the process's one; this opens another connection to it). */
  path: string;
  database: string;
  /** The checked statement. */
  statement: string;
  params: Record<string, unknown>;
  format: string;
  /** Set on the connection before the statement runs, `readonly` last. */
  settings: Readonly<Record<string, string | number>>;
  signal?: AbortSignal | undefined;
  /** Filled in as the engine reports them: rows returned (streamed), rows read (answered whole). */
  stats?: { resultRows?: number; readRows?: number } | undefined;
}

type SessionClass = typeof Session;
async function chdbSession(): Promise<SessionClass> {
  // Loaded only when used: the native engine is large, and server mode needs none of it.
  return (await loadChdb()).Session;
}

function assignment(name: string, value: string | number): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`not a setting name: ${JSON.stringify(name)}`);
  return typeof value === 'number' ? `${name} = ${value}` : `${name} = '${value.replace(/[\\']/g, '\\$&')}'`;
}

/** Stop the marked query in the engine, from a connection of its own (the query's own is busy running it). */
async function killMarked(Session: SessionClass, path: string, marker: string): Promise<void> {
  const control = new Session(path);
  try {
    await control.queryBindAsync('KILL QUERY WHERE startsWith(query, {marker:String}) ASYNC', { marker }, { format: 'TSV' });
  } catch {
    // The query may have ended on its own meanwhile; nothing else to stop.
  } finally {
    control.close();
  }
}

const cancelled = (): EngineError => new EngineError('Query was cancelled', '394', 'QUERY_WAS_CANCELLED');

/** Rejects with the engine's "cancelled" error once the signal aborts (at once if it has), after `onAbort`; never resolves. */
function whenAborted(signal: AbortSignal | undefined, onAbort: () => void = () => undefined): Promise<never> {
  const aborted = new Promise<never>((_, reject) => {
    const abort = (): void => { onAbort(); reject(cancelled()); };
    if (signal?.aborted) abort();
    else signal?.addEventListener('abort', abort, { once: true });
  });
  aborted.catch(() => undefined);
  return aborted;
}

/**
 * Formats whose output, written block by block as the engine streams it,
 * reads as one output: rows only, no header or footer. Any other format
 * (JSON, *WithNames, Pretty, Parquet, ...) is answered whole, under the
 * buffered-result limit.
 */
export const STREAMED_FORMATS: ReadonlySet<string> = new Set([
  'JSONEachRow', 'JSONLines', 'JSONL', 'NDJSON', 'JSONStringsEachRow', 'JSONCompactEachRow', 'JSONCompactStringsEachRow',
  'CSV', 'TSV', 'TabSeparated', 'TSVRaw', 'TabSeparatedRaw', 'RowBinary', 'Native', 'LineAsString', 'RawBLOB', 'TSKV',
]);

/**
 * The whole output at once: for values bound as parameters (the engine's
 * binding runs one query at a time in the process, so it cannot stream) and
 * for formats that do not stream. Aborting stops the query in the engine.
 */
async function oneShot(session: Session, text: string, options: AnalystRunOptions, stop: () => Promise<void>): Promise<Buffer> {
  const run = Object.keys(options.params).length > 0
    ? session.queryBindAsync(text, options.params, { format: options.format })
    : session.queryAsync(text, { format: options.format });
  const result = await Promise.race([run, whenAborted(options.signal, () => { void stop(); })]);
  if (options.stats) options.stats.readRows = result.rowsRead;
  const bytes = result.bytes();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * Run the statement and return its output as a byte stream. Errors before the
 * first chunk (unknown table, a refused setting, a limit hit at once) reject
 * here; later ones (a limit hit mid-way) fail the stream.
 */
export async function runAnalystStatement(options: AnalystRunOptions): Promise<Readable> {
  const Session = await chdbSession();
  const session = new Session(options.path);
  const marker = `/* inferledger analyst query ${randomUUID()} */`;
  let stream: ChdbQueryStream | undefined;
  let done = false;
  const stop = async (): Promise<void> => {
    if (done) return;
    done = true;
    await killMarked(Session, options.path, marker);
    try { stream?.cancel(); } catch { /* already closed */ }
    session.close();
  };
  const finish = (): void => {
    if (done) return;
    done = true;
    session.close();
  };
  try {
    await session.queryAsync(`USE ${options.database}`, { format: 'TSV' });
    const settings = Object.entries(options.settings).map(([name, value]) => assignment(name, value));
    if (settings.length > 0) await session.queryAsync(`SET ${settings.join(', ')}`, { format: 'TSV' });
    const text = `${marker}\n${options.statement}`;
    // The engine streams queries only (not EXPLAIN, SHOW, DESCRIBE, EXISTS).
    const isQuery = /^(SELECT|WITH)\b/.test(options.statement);
    if (Object.keys(options.params).length > 0 || !STREAMED_FORMATS.has(options.format) || !isQuery) {
      const whole = await oneShot(session, text, options, stop);
      finish();
      return Readable.from([whole]);
    }
    stream = session.queryStream(text, { format: options.format });
  } catch (err) {
    if (options.signal?.aborted) await stop();
    finish();
    throw engineError(err);
  }
  const chunks = stream[Symbol.asyncIterator]();
  const next = async (): Promise<Buffer | null> => {
    const step: IteratorResult<StreamChunk> = await chunks.next();
    if (step.done === true) return null;
    if (options.stats) options.stats.resultRows = (options.stats.resultRows ?? 0) + step.value.numRows;
    return Buffer.from(step.value.raw());
  };
  let first: Buffer | null;
  try {
    first = await Promise.race([next(), whenAborted(options.signal)]);
  } catch (err) {
    await stop();
    throw engineError(err);
  }
  let pending: Buffer | null | undefined = first;
  const readable = new Readable({
    read() {
      const take = pending !== undefined ? Promise.resolve(pending) : next();
      pending = undefined;
      take.then(
        (chunk) => {
          if (chunk === null) finish();
          this.push(chunk);
        },
        (err: unknown) => { this.destroy(engineError(err)); },
      );
    },
    destroy(err, callback) {
      // A reader that stops early (a client gone, an abort) stops the query in the engine too.
      stop().then(() => { callback(err); }, () => { callback(err); });
    },
  });
  options.signal?.addEventListener('abort', () => { readable.destroy(cancelled()); }, { once: true });
  return readable;
}
