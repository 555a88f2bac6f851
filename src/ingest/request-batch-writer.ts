/**
 * Writes validated request rows to inference_requests in batches, skipping
 * request ids seen earlier in the batch or already stored, so re-ingesting a
 * file or replaying a stream never counts a request twice. Flushes run one at
 * a time (a batch's lookup must see the previous batch's rows) while the
 * caller keeps parsing the next batch.
 */
import { z } from 'zod';
import { REQUEST_COLUMNS } from '../events/request-event.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export interface PendingRow {
  requestId: string;
  /** Epoch milliseconds of the event. */
  ts: number;
  /** The JSONCompactEachRow line. */
  line: string;
}

export interface FlushResult {
  written: number;
  duplicates: number;
}

const HOUR_MS = 3_600_000;
const idRow = z.object({ request_id: z.string() });

function hourString(ms: number): string {
  return new Date(Math.floor(ms / HOUR_MS) * HOUR_MS).toISOString().slice(0, 19).replace('T', ' ');
}

/** Write one batch: drop duplicates, insert the rest. Returns what happened. */
export async function writeRequestBatch(warehouse: Warehouse, rows: readonly PendingRow[]): Promise<FlushResult> {
  if (rows.length === 0) return { written: 0, duplicates: 0 };
  const unique = new Map<string, PendingRow>();
  let minTs = Infinity;
  let maxTs = -Infinity;
  for (const row of rows) {
    if (unique.has(row.requestId)) continue;
    unique.set(row.requestId, row);
    if (row.ts < minTs) minTs = row.ts;
    if (row.ts > maxTs) maxTs = row.ts;
  }
  const existing = await warehouse.query(
    sqlFile('queries/existing-request-ids'),
    { from_hour: hourString(minTs), to_hour: hourString(maxTs), ids: [...unique.keys()] },
    idRow,
  );
  for (const { request_id } of existing) unique.delete(request_id);
  let body = '';
  for (const row of unique.values()) body += `${row.line}\n`;
  await warehouse.insertCompact('inference_requests', REQUEST_COLUMNS, body);
  return { written: unique.size, duplicates: rows.length - unique.size };
}
