/**
 * The audit of the query endpoint: one row per request in `query_audit`
 * (who, what, when, how much, how long, how it ended), refusals included.
 * Rows are written in batches, about once a second and at close, by the
 * service's own warehouse session (the endpoint's is read-only). A write that
 * fails is retried with the next batch; the buffer is bounded, and what it
 * had to drop is logged with its count, never silently.
 */
import { createHash } from 'node:crypto';
import type { Warehouse } from '../warehouse/warehouse.js';
import { formatDateTimeMillis } from '../util/time.js';

export type AuditOutcome = 'ok' | 'error' | 'unauthenticated' | 'limited' | 'cancelled';

export interface AuditEntry {
  at: Date;
  user: string;
  authenticated: boolean;
  scope: string;
  queryId: string;
  query: string;
  outcome: AuditOutcome;
  errorCode: number;
  error: string;
  resultRows: number | undefined;
  resultBytes: number;
  readRows: number | undefined;
  durationMs: number;
  client: string;
}

export interface QueryAudit {
  record(entry: AuditEntry): void;
  /** Write what is buffered now. */
  flush(): Promise<void>;
  /** Flush and stop the timer. */
  close(): Promise<void>;
}

/** The query text kept per row; its hash covers the whole text. */
const MAX_QUERY_CHARS = 64 * 1024;
const MAX_BUFFERED = 50_000;
const FLUSH_MS = 1000;

function row(entry: AuditEntry): Record<string, unknown> {
  return {
    event_time: formatDateTimeMillis(entry.at.getTime()),
    user: entry.user,
    authenticated: entry.authenticated,
    scope: entry.scope,
    query_id: entry.queryId,
    query: entry.query.length > MAX_QUERY_CHARS ? entry.query.slice(0, MAX_QUERY_CHARS) : entry.query,
    query_hash: createHash('sha256').update(entry.query, 'utf8').digest('hex'),
    outcome: entry.outcome,
    error_code: entry.errorCode,
    error: entry.error.slice(0, 4096),
    result_rows: entry.resultRows ?? null,
    result_bytes: entry.resultBytes,
    read_rows: entry.readRows ?? null,
    duration_ms: Math.min(Math.max(0, Math.round(entry.durationMs)), 4_294_967_295),
    client: entry.client.slice(0, 512),
  };
}

export function startQueryAudit(warehouse: Warehouse, log: (line: string) => void): QueryAudit {
  let buffer: Record<string, unknown>[] = [];
  let dropped = 0;
  let writing: Promise<void> = Promise.resolve();
  const flush = (): Promise<void> => {
    writing = writing.then(async () => {
      if (buffer.length === 0) return;
      const batch = buffer;
      buffer = [];
      try {
        await warehouse.insertObjects('query_audit', batch);
      } catch (err) {
        // Kept for the next flush, oldest first, within the bound.
        buffer = [...batch, ...buffer];
        log(`queries: the audit could not be written (${(err as Error).message}); ${buffer.length} rows wait for the next try`);
      }
      if (dropped > 0) {
        log(`queries: ${dropped} audit rows were dropped: the audit could not be written fast enough`);
        dropped = 0;
      }
    });
    return writing;
  };
  const timer = setInterval(() => { void flush(); }, FLUSH_MS);
  timer.unref();
  return {
    record(entry) {
      if (buffer.length >= MAX_BUFFERED) {
        buffer.shift();
        dropped++;
      }
      buffer.push(row(entry));
    },
    flush,
    close: async () => {
      clearInterval(timer);
      await flush();
    },
  };
}
