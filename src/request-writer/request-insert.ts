/**
 * Inserting a write's rows into inference_requests, and what happens when
 * the warehouse refuses the insert for a row's content: the rows are
 * bisected (insert-bisect.ts) so the offending ones come back refused and
 * the rest is stored once, none of it twice when the failed insert had
 * stored some.
 */
import type { ClickHouseSettings } from '@clickhouse/client';
import { REQUEST_COLUMNS } from '../events/request-event.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { insertIsolating } from './insert-bisect.js';
import type { RefusedRow, RequestBatch } from './request-batch.js';
import { storedAmong, type Verdict } from './stored-duplicates.js';

/**
 * One parsing thread per insert: the caller parses the next batch meanwhile,
 * and on two cores parallel parsing only fought it for CPU (bench/ingest-file).
 */
const INSERT_SETTINGS: ClickHouseSettings = { input_format_parallel_parsing: 0 };

/** Insert serialised rows (JSONCompactEachRow) as one insert. */
export function insertRequestRows(warehouse: Warehouse, body: Buffer): Promise<void> {
  return warehouse.insertCompact('inference_requests', REQUEST_COLUMNS, body, INSERT_SETTINGS);
}

/**
 * The insert was refused for its content: store what can be stored, one
 * bisected half at a time, and add the rows the engine refuses to
 * `refused`; returns their ids. Rows the failed insert did store (none,
 * when the insert was one block) are looked up first and not inserted again.
 */
export async function insertIsolated(warehouse: Warehouse, all: readonly RequestBatch[], verdict: Verdict, refused: RefusedRow[], fromHour: number, toHour: number, failure: unknown): Promise<Set<string>> {
  const keptRows: { batch: number; row: number }[] = [];
  all.forEach((batch, b) => {
    const without = verdict.leftOut[b] as ReadonlySet<string>;
    batch.ids.forEach((id, i) => { if (!without.has(id)) keptRows.push({ batch: b, row: i }); });
  });
  const idOf = (k: { batch: number; row: number }): string => (all[k.batch] as RequestBatch).ids[k.row] as string;
  const already = await storedAmong(warehouse, keptRows.map(idOf), fromHour, toHour);
  const toInsert = keptRows.filter((k) => !already.has(idOf(k)));
  const byEngine = await insertIsolating(
    toInsert.map((k) => (all[k.batch] as RequestBatch).row(k.row)),
    (body) => insertRequestRows(warehouse, body),
    already.size === 0 ? failure : undefined,
  );
  const out = new Set<string>();
  for (const [index, why] of byEngine) {
    const k = toInsert[index] as { batch: number; row: number };
    const batch = all[k.batch] as RequestBatch;
    const id = batch.ids[k.row] as string;
    out.add(id);
    refused.push({ batch: k.batch, origin: batch.origins[k.row] as number, id, field: why.field, reason: why.reason, row: Buffer.from(batch.row(k.row)) });
  }
  return out;
}
