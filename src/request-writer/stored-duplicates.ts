/**
 * Copies of request ids already stored, or carried by an earlier batch of
 * the same insert: finding them in the warehouse and judging each copy
 * against the first. An identical copy is a duplicate (left out, counted);
 * a different one is a conflicting duplicate, refused with the columns that
 * differ, so the first copy wins. The lookups are per write, not per row:
 * one count of the stored rows in the write's hours, and an id lookup only
 * when that count or the writer's memory calls for it.
 */
import { z } from 'zod';
import { formatDateTime, HOUR_MS } from '../util/time.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { FingerprintSet } from '../events/id-fingerprints.js';
import type { RefusedRow, RequestBatch } from './request-batch.js';
import { conflictReason, contentOfRow, contentOfStored, differingColumns, storedRequestRow, type RequestContent } from './request-content.js';

/** What one write decided for the rows of its batches. */
export interface Verdict {
  /** Per batch, the ids it leaves out. */
  leftOut: ReadonlySet<string>[];
  duplicates: number;
  refused: RefusedRow[];
}

const countRow = z.object({ n: z.coerce.number() });

function hourString(hour: number): string {
  return formatDateTime(hour * HOUR_MS);
}

/** Rows stored in these hours (epoch hours, both included), by whichever writer. */
export async function storedRowsInHours(warehouse: Warehouse, fromHour: number, toHour: number): Promise<number> {
  const [stored] = await warehouse.query(
    sqlFile('queries/count-requests-in-hours'),
    { from_hour: hourString(fromHour), to_hour: hourString(toHour) },
    countRow,
  );
  return stored?.n ?? 0;
}

/** The stored copy of each of these ids in the hour range, as comparable content. The ids travel in the request body. */
export async function storedAmong(warehouse: Warehouse, ids: readonly string[], fromHour: number, toHour: number): Promise<Map<string, RequestContent>> {
  const out = new Map<string, RequestContent>();
  if (ids.length === 0) return out;
  let text = '';
  for (const id of ids) text += `[${JSON.stringify(id)}]\n`;
  const rows = await warehouse.queryWithTable(
    sqlFile('queries/existing-request-ids'),
    { from_hour: hourString(fromHour), to_hour: hourString(toHour) },
    { param: 'ids', columns: [['request_id', 'String']], body: text },
    storedRequestRow,
  );
  for (const row of rows) out.set(row.request_id, contentOfStored(row));
  return out;
}

/** A row of one of a write's batches: batch index, row index. */
export interface BatchRow {
  batch: number;
  row: number;
}

/**
 * Rows whose id's fingerprint an earlier row of another batch of the write
 * carries (batches of several partitions joined into one insert): copies,
 * or (rarely) fingerprint collisions, which the ids tell apart.
 */
export function crossBatchSuspects(batches: readonly RequestBatch[]): BatchRow[] {
  if (batches.length < 2) return [];
  const joined = new FingerprintSet(batches.reduce((n, b) => n + b.size, 0));
  const suspects: BatchRow[] = [];
  batches.forEach((batch, b) => {
    const { idHashes } = batch;
    for (let i = 0; i < batch.size; i++) {
      if (!joined.add(idHashes[2 * i] as number, idHashes[2 * i + 1] as number)) suspects.push({ batch: b, row: i });
    }
  });
  return suspects;
}

/**
 * The batches judging must read rows of: those holding a stored id, and
 * those holding an id a suspect carries (its first copy and the later ones).
 * A batch whose rows wait in the engine's stage brings them out only then.
 */
export function batchesWithCopies(batches: readonly RequestBatch[], stored: ReadonlyMap<string, RequestContent>, suspects: readonly BatchRow[]): Set<RequestBatch> {
  const out = new Set<RequestBatch>();
  if (stored.size === 0 && suspects.length === 0) return out;
  const suspectIds = new Set(suspects.map((s) => (batches[s.batch] as RequestBatch).ids[s.row] as string));
  for (const batch of batches) {
    if (batch.ids.some((id) => stored.has(id) || suspectIds.has(id))) out.add(batch);
  }
  return out;
}

/**
 * Which rows each batch leaves out: copies of stored ids, and, when batches
 * of several partitions are joined into one insert, copies of an id an
 * earlier batch of the same insert carries (`suspects`, from
 * crossBatchSuspects). A copy identical to the first is a duplicate; a
 * different one is refused as a conflict. Found by fingerprint, confirmed by
 * id, so a collision keeps its row.
 */
export function judge(batches: readonly RequestBatch[], stored: ReadonlyMap<string, RequestContent>, suspects: readonly BatchRow[]): Verdict {
  const leftOut: Set<string>[] = batches.map(() => new Set<string>());
  const verdict: Verdict = { leftOut, duplicates: 0, refused: [] };
  const decide = (b: number, i: number, first: RequestContent): void => {
    const batch = batches[b] as RequestBatch;
    const id = batch.ids[i] as string;
    (leftOut[b] as Set<string>).add(id);
    const differ = differingColumns(first, contentOfRow(batch.row(i)));
    if (differ.length === 0) verdict.duplicates++;
    else verdict.refused.push({ batch: b, origin: batch.origins[i] as number, id, field: differ.join(','), reason: conflictReason(id, differ), row: Buffer.from(batch.row(i)) });
  };
  if (stored.size > 0) {
    batches.forEach((batch, b) => {
      batch.ids.forEach((id, i) => {
        const first = stored.get(id);
        if (first) decide(b, i, first);
      });
    });
  }
  if (suspects.length === 0) return verdict;
  const firstCopy = new Map<string, BatchRow>();
  batches.forEach((batch, b) => { batch.ids.forEach((id, i) => { if (!firstCopy.has(id)) firstCopy.set(id, { batch: b, row: i }); }); });
  for (const { batch: b, row: i } of suspects) {
    const id = (batches[b] as RequestBatch).ids[i] as string;
    const first = firstCopy.get(id);
    if (!first || first.batch >= b || stored.has(id)) continue; // a fingerprint collision, or already judged against storage
    decide(b, i, contentOfRow((batches[first.batch] as RequestBatch).row(first.row)));
  }
  return verdict;
}

/**
 * The rows each batch held aside as conflicting with an earlier copy in the
 * batch, judged against the stored copy when there is one (that one came
 * first): identical to it, a duplicate; otherwise refused, naming the
 * columns that differ from the stored copy (or, with none stored, from the
 * batch's copy). Adds the refused to `refused`; returns the duplicates.
 */
export function judgeHeldConflicts(batches: readonly RequestBatch[], stored: ReadonlyMap<string, RequestContent>, refused: RefusedRow[]): number {
  let duplicates = 0;
  batches.forEach((b, batch) => {
    for (const c of b.conflicts) {
      const first = stored.get(c.id);
      const differ = first ? differingColumns(first, contentOfRow(c.row)) : undefined;
      if (differ?.length === 0) duplicates++;
      else refused.push({ batch, ...c, ...(differ ? { field: differ.join(','), reason: conflictReason(c.id, differ) } : {}) });
    }
  });
  return duplicates;
}
