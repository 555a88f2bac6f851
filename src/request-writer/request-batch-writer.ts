/**
 * Writes validated request rows to inference_requests in batches, skipping
 * request ids seen before, so re-ingesting a file or replaying a stream never
 * counts a request twice. Storage deduplicates on its own (ReplacingMergeTree
 * + FINAL) only within one (hour, pool); this writer recognises an id within
 * a horizon (default 48 h) around its event hour, whatever hour or pool a
 * second copy carries: an identical copy is a duplicate, a different one a
 * conflicting duplicate, refused (reject / dead letter) with the columns
 * that differ. The first copy wins.
 *
 * How it finds duplicates without asking the warehouse about every id:
 * - within a batch, by fingerprint confirmed by id;
 * - across the batches joined into one insert (the Kafka collector joins
 *   partitions), by fingerprint confirmed by id;
 * - against this writer's earlier batches, by the fingerprints of the ids it
 *   has sealed with the hour of their first copy (id-fingerprints.ts; one
 *   entry per id, memory bounded by `maxTrackedIds`): a hit within the
 *   horizon makes the row a candidate, looked up in storage at write time
 *   (when every earlier batch is stored), so a fingerprint collision never
 *   drops an event;
 * - against everything else, by one cheap count of the stored rows in the
 *   batch's hours widened by the horizon. Only when that count shows rows
 *   this writer did not write (or hours whose ids it has forgotten) does it
 *   look all the batch's ids up.
 * A writer racing this one may slip a duplicate past the count; storage still
 * collapses a copy in the same hour and pool, only the printed duplicate
 * count would be short.
 *
 * An insert the warehouse refuses because of a row's content is bisected
 * (insert-bisect.ts): the offending rows come back refused, the rest is
 * stored once.
 *
 * Rows arrive serialised in off-heap buffers from the parser threads
 * (parse-records.ts): holding 50k row strings until the insert made the
 * garbage collector the bottleneck.
 *
 * This file is the write that composes the parts, each in a module of its
 * own: request-batch.ts (the batch being filled, duplicates within it),
 * sealed-ids.ts (the memory of earlier batches and its bound),
 * stored-duplicates.ts (storage lookups, judging copies against the first)
 * and request-insert.ts (the insert, bisected when refused).
 */
import type { Warehouse } from '../warehouse/warehouse.js';
import { isContentError } from './insert-bisect.js';
import { RequestBatch, type RefusedRow } from './request-batch.js';
import type { RequestContent } from './request-content.js';
import { insertIsolated, insertRequestRows } from './request-insert.js';
import { SealedIds } from './sealed-ids.js';
import { judge, judgeHeldConflicts, storedAmong, storedRowsInHours } from './stored-duplicates.js';

export interface FlushResult {
  written: number;
  /** Copies identical to one stored or written before: not stored, counted once. */
  duplicates: number;
  refused: RefusedRow[];
}

export interface RequestBatchWriterOptions {
  /** Ids remembered for in-memory duplicate checks; past this, the oldest hours are forgotten. Default 2M. */
  maxTrackedIds?: number;
  /** A copy of an id within this many hours of the first copy's hour is a duplicate (identical) or a conflict (different). Default 48. */
  horizonHours?: number;
}

export class RequestBatchWriter {
  private readonly sealed: SealedIds;
  private readonly horizon: number;

  constructor(
    private readonly warehouse: Warehouse,
    options: RequestBatchWriterOptions = {},
  ) {
    this.horizon = options.horizonHours ?? 48;
    this.sealed = new SealedIds(options.maxTrackedIds ?? 2_000_000, this.horizon);
  }

  /** @param expectedRows rows the batch will likely hold (e.g. the batch size), so it is sized once. */
  newBatch(expectedRows?: number): RequestBatch {
    return new RequestBatch(expectedRows);
  }

  /**
   * Insert one batch, or several as one insert (the Kafka collector joins the
   * batches of several partitions: fewer, larger inserts), leaving out ids
   * already stored. The batches' ids are sealed at once (before any await),
   * so the next batch, filled while this insert runs, already sees them.
   * Retrying the same batches after a failure is safe: ids the failed
   * attempt did store are found and left out. Rows the warehouse refuses for
   * their content come back in `refused`; every other row is stored.
   */
  async write(batches: RequestBatch | readonly RequestBatch[]): Promise<FlushResult> {
    const all: readonly RequestBatch[] = batches instanceof RequestBatch ? [batches] : batches;
    let inBatches = all.reduce((n, b) => n + b.duplicates, 0);
    if (all.every((b) => b.size === 0)) return { written: 0, duplicates: inBatches, refused: all.flatMap((b, batch) => b.conflicts.map((c) => ({ batch, ...c }))) };
    let minHour = Infinity;
    let maxHour = -Infinity;
    for (const batch of all) {
      for (const hour of batch.hours) {
        if (hour < minHour) minHour = hour;
        if (hour > maxHour) maxHour = hour;
      }
    }
    for (const batch of all) this.sealed.seal(batch, minHour);
    const fromHour = minHour - this.horizon;
    const toHour = maxHour + this.horizon;
    let stored = new Map<string, RequestContent>();
    const candidates = all.flatMap((b) => b.candidates);
    if (await this.mayHoldOthers(fromHour, toHour)) stored = await storedAmong(this.warehouse, all.flatMap((b) => b.ids), fromHour, toHour);
    else if (candidates.length > 0) stored = await storedAmong(this.warehouse, candidates, fromHour, toHour);
    const verdict = judge(all, stored);
    const refused: RefusedRow[] = [];
    inBatches += judgeHeldConflicts(all, stored, refused);
    refused.push(...verdict.refused);
    const pieces = all.flatMap((batch, b) => batch.pieces(verdict.leftOut[b]));
    let engineRefused = new Set<string>();
    if (pieces.length > 0) {
      const body = pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
      try {
        await insertRequestRows(this.warehouse, body);
      } catch (err) {
        if (!isContentError(err)) throw err;
        engineRefused = await insertIsolated(this.warehouse, all, verdict, refused, fromHour, toHour, err);
      }
    }
    let kept = 0;
    all.forEach((batch, b) => { kept += this.sealed.countWritten(batch, verdict.leftOut[b] as ReadonlySet<string>, engineRefused); });
    return { written: kept, duplicates: inBatches + verdict.duplicates, refused };
  }

  /** Whether stored rows in these hours might include ids this writer cannot rule out in memory. */
  private async mayHoldOthers(fromHour: number, toHour: number): Promise<boolean> {
    if (this.sealed.forgotIn(fromHour, toHour)) return true;
    const ours = this.sealed.writtenIn(fromHour, toHour);
    return (await storedRowsInHours(this.warehouse, fromHour, toHour)) > ours;
  }
}
