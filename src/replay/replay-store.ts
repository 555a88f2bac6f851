/**
 * Where replayed rows go: the request writer the collector and file
 * ingestion use, so a replayed event is stored once, whatever was stored
 * before (by the collector, an earlier replay, or a replay killed midway).
 * A dry run asks the same questions of storage without inserting: which ids
 * are stored already, which copies conflict, and counts the rest as what a
 * real run would store.
 */
import { PendingWrite } from '../request-writer/pending-write.js';
import type { RefusedRow, RequestBatch } from '../request-writer/request-batch.js';
import { RequestBatchWriter } from '../request-writer/request-batch-writer.js';
import type { Warehouse } from '../warehouse/warehouse.js';

export interface StoreOutcome {
  /** Rows stored (a dry run: rows a real run would store). */
  stored: number;
  duplicates: number;
  /** Conflicting duplicates and rows the warehouse refused: not stored. */
  refused: RefusedRow[];
}

export class ReplayStore {
  private readonly writer: RequestBatchWriter;
  private readonly horizonHours: number;
  /** A dry run's would-be-stored ids, so a copy in a later batch counts as a duplicate, as the writer's memory would make it. */
  private readonly dryRunIds = new Set<string>();

  constructor(
    private readonly warehouse: Warehouse,
    readonly dryRun: boolean,
    horizonHours: number | undefined,
  ) {
    this.horizonHours = horizonHours ?? 48;
    this.writer = new RequestBatchWriter(warehouse, { horizonHours: this.horizonHours });
  }

  newBatch(expectedRows: number): RequestBatch {
    return this.writer.newBatch(expectedRows);
  }

  async store(batch: RequestBatch): Promise<StoreOutcome> {
    if (!this.dryRun) {
      const result = await this.writer.write(batch);
      return { stored: result.written, duplicates: result.duplicates, refused: result.refused };
    }
    const write = new PendingWrite([batch], this.horizonHours);
    if (!write.empty) await write.findStored(this.warehouse, write.ids('all'));
    write.judge();
    const judged = write.result(0);
    const leftOut = write.leftOut[0] ?? new Set<string>();
    let stored = 0;
    let duplicates = judged.duplicates;
    for (const id of batch.ids) {
      if (leftOut.has(id)) continue;
      if (this.dryRunIds.has(id)) {
        duplicates++;
      } else {
        this.dryRunIds.add(id);
        stored++;
      }
    }
    return { stored, duplicates, refused: judged.refused };
  }
}
