/**
 * A request writer's memory of its earlier batches: the fingerprints of the
 * ids it sealed with the hour of their first copy, the rows it stored per
 * hour, and the hours it forgot. It lets a batch skip asking the warehouse
 * about every id: a fingerprint hit only makes a row a candidate (confirmed
 * in storage, so a collision never drops an event), and the rows written per
 * hour tell whether storage holds rows this writer did not write. Memory is
 * bounded by `maxTrackedIds`: past it, whole hours are forgotten, and batches
 * near a forgotten hour fall back to looking all their ids up.
 */
import { FingerprintHours } from '../events/id-fingerprints.js';
import type { RequestBatch } from './request-batch.js';

export class SealedIds {
  /** Fingerprints of the ids of sealed batches, with the hour of their first copy. */
  private readonly sealedIds = new FingerprintHours();
  /** Rows this writer stored, by hour, including hours whose ids were forgotten. */
  private readonly writtenRows = new Map<number, number>();
  /** Hours whose ids were dropped to bound memory: batches near them ask the warehouse. */
  private readonly forgotten = new Set<number>();

  constructor(
    private readonly maxTrackedIds: number,
    private readonly horizon: number,
  ) {}

  /** Whether an hour in this range had its ids forgotten: memory cannot rule out a copy there. */
  forgotIn(fromHour: number, toHour: number): boolean {
    for (const hour of this.forgotten) if (hour >= fromHour && hour <= toHour) return true;
    return false;
  }

  /** Rows this writer stored in these hours. */
  writtenIn(fromHour: number, toHour: number): number {
    let ours = 0;
    for (const [hour, n] of this.writtenRows) if (hour >= fromHour && hour <= toHour) ours += n;
    return ours;
  }

  /**
   * Count the batch's rows that were stored (all but `without` and
   * `refused`) by hour; returns how many. Counted by row, not by id: the
   * same stored id can sit in two joined batches.
   */
  countWritten(batch: RequestBatch, without: ReadonlySet<string>, refused: ReadonlySet<string>): number {
    let kept = 0;
    const { hours } = batch;
    batch.ids.forEach((id, i) => {
      if (without.has(id) || refused.has(id)) return;
      const hour = hours[i] ?? 0;
      this.writtenRows.set(hour, (this.writtenRows.get(hour) ?? 0) + 1);
      kept++;
    });
    return kept;
  }

  /**
   * Remember the batch's ids with their hours, and list as candidates those
   * sealed before within the horizon (by an earlier batch, or by this one
   * on an earlier attempt of the same write): one probe of the table per row.
   * Rows of forgotten hours are left to the storage check (forgotIn).
   */
  seal(batch: RequestBatch, batchMinHour: number): void {
    const { hours, idHashes, ids, candidates } = batch;
    candidates.length = 0;
    const checkForgotten = this.forgotten.size > 0;
    for (let i = 0; i < hours.length; i++) {
      const hour = hours[i] as number;
      if (checkForgotten && this.forgotten.has(hour)) continue;
      const first = this.sealedIds.addOrFirstHour(idHashes[2 * i] as number, idHashes[2 * i + 1] as number, hour);
      if (first !== undefined && Math.abs(first - hour) <= this.horizon) candidates.push(ids[i] as string);
    }
    if (this.sealedIds.size <= this.maxTrackedIds) return;
    // Over budget: forget hours before this batch first (files are mostly in time order), oldest first.
    const oldestFirst = [...this.sealedIds.perHour.keys()].sort((a, b) => Number(a >= batchMinHour) - Number(b >= batchMinHour) || a - b);
    const forget = new Set<number>();
    let left = this.sealedIds.size;
    for (const hour of oldestFirst) {
      if (left <= this.maxTrackedIds / 2) break;
      left -= this.sealedIds.perHour.get(hour) ?? 0;
      forget.add(hour);
      this.forgotten.add(hour);
    }
    this.sealedIds.forget(forget);
  }
}
