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
 * garbage collector the bottleneck. A unit the engine parsed itself
 * (events/staged-units.ts) keeps its rows in the engine's stage: only its
 * ids and hours are here, and its rows go from the stage into the table.
 *
 * This file composes the parts, each in a module of its own:
 * request-batch.ts (the batch being filled, duplicates within it),
 * sealed-ids.ts (the writer's memory of earlier batches and its bound),
 * pending-write.ts (one write's state: its hours, the stored copies, what
 * each row became, the insert, bisected when refused) and
 * stored-duplicates.ts (storage lookups, judging copies against the first).
 */
import type { Warehouse } from '../warehouse/warehouse.js';
import { PendingWrite, type FlushResult } from './pending-write.js';
import { RequestBatch } from './request-batch.js';
import { SealedIds } from './sealed-ids.js';
import { storedRowsInHours } from './stored-duplicates.js';

export type { FlushResult } from './pending-write.js';

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
    const write = new PendingWrite(batches instanceof RequestBatch ? [batches] : batches, this.horizon);
    if (write.empty) {
      write.judge();
      await write.release(this.warehouse, false);
      return write.result(0);
    }
    for (const batch of write.batches) this.sealed.seal(batch, write.minHour);
    let failed = true;
    try {
      if (await this.mayHoldOthers(write.fromHour, write.toHour)) await write.findStored(this.warehouse, write.ids('all'));
      else {
        const candidates = write.ids('candidates');
        if (candidates.length > 0) await write.findStored(this.warehouse, candidates);
      }
      write.judge();
      await write.insert(this.warehouse);
      failed = false;
    } finally {
      await write.release(this.warehouse, failed);
    }
    let written = 0;
    write.batches.forEach((batch, b) => { written += this.sealed.countWritten(batch, write.leftOut[b] as ReadonlySet<string>, write.engineRefused); });
    return write.result(written);
  }

  /** Whether stored rows in these hours might include ids this writer cannot rule out in memory. */
  private async mayHoldOthers(fromHour: number, toHour: number): Promise<boolean> {
    if (this.sealed.forgotIn(fromHour, toHour)) return true;
    const ours = this.sealed.writtenIn(fromHour, toHour);
    return (await storedRowsInHours(this.warehouse, fromHour, toHour)) > ours;
  }
}
