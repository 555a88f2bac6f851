/**
 * Writes validated request rows to inference_requests in batches, skipping
 * request ids seen before, so re-ingesting a file or replaying a stream never
 * counts a request twice. Storage deduplicates on its own (ReplacingMergeTree
 * + FINAL); this writer makes the duplicate count exact and keeps duplicates
 * off disk.
 *
 * How it finds duplicates without asking the warehouse about every id:
 * - within a batch, by fingerprint confirmed by id;
 * - across the batches joined into one insert (the Kafka collector joins
 *   partitions), by fingerprint confirmed by id;
 * - against this writer's earlier batches, by the fingerprints of the ids it
 *   has sealed (id-fingerprints.ts; kept per hour, memory bounded by
 *   `maxTrackedIds`): a hit makes the row a candidate, looked up in storage
 *   at write time (when every earlier batch is stored), so a fingerprint
 *   collision never drops an event;
 * - against everything else, by one cheap count of the stored rows in the
 *   batch's hours. Only when that count shows rows this writer did not write
 *   (or hours whose ids it has forgotten) does it look all the batch's ids up.
 * A writer racing this one may slip a duplicate past the count; storage still
 * collapses it, only the printed duplicate count would be short.
 *
 * Rows arrive serialised in off-heap buffers from the parser threads
 * (parse-records.ts): holding 50k row strings until the insert made the
 * garbage collector the bottleneck.
 */
import type { ClickHouseSettings } from '@clickhouse/client';
import { z } from 'zod';
import { REQUEST_COLUMNS } from '../events/request-event.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { formatDateTime, HOUR_MS } from '../util/time.js';
import { FingerprintSet } from './id-fingerprints.js';
import type { ParsedRecords } from './parse-records.js';

export interface FlushResult {
  written: number;
  duplicates: number;
}

const idRow = z.object({ request_id: z.string() });
const countRow = z.object({ n: z.coerce.number() });

/**
 * One parsing thread per insert: the caller parses the next batch meanwhile,
 * and on two cores parallel parsing only fought it for CPU (bench/ingest-file).
 */
const INSERT_SETTINGS: ClickHouseSettings = { input_format_parallel_parsing: 0 };

function hourString(hour: number): string {
  return formatDateTime(hour * HOUR_MS);
}

/**
 * A batch being filled: JSONCompactEachRow lines, held as the parser's own
 * buffers (runs of new rows, not copied: copying fresh memory was a top cost
 * of the Kafka path), with each row's id and hour.
 */
export class RequestBatch {
  private readonly parts: Buffer[] = [];
  private used = 0;
  readonly ids: string[] = [];
  readonly hours: number[] = [];
  /** Fingerprint of row i's id: idHashes[2i], idHashes[2i + 1]. */
  readonly idHashes: number[] = [];
  /** Ids whose fingerprint the writer has sealed before: duplicates only if storage has them. */
  readonly candidates: string[] = [];
  /** Row i is parts[rowPart[i]] from rowStart[i] to rowEnd[i] (newline included). */
  private readonly rowPart: number[] = [];
  private readonly rowStart: number[] = [];
  private readonly rowEnd: number[] = [];
  /** Fingerprints of this batch's ids; a hit is confirmed against the ids themselves. */
  private readonly seen = new FingerprintSet();
  /** This batch's ids as a set, built on the first fingerprint hit (most batches never have one) and kept from then on. */
  private seenIds: Set<string> | undefined;
  /** Rows refused because their id was already in this batch. */
  duplicates = 0;

  constructor(private readonly maybeSealed: (h1: number, h2: number, hour: number) => boolean) {}

  /** Bytes of rows held. */
  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.ids.length;
  }

  /** Add rows [from, to) of a parsed chunk, leaving out ids already in this batch. */
  addRows(parsed: ParsedRecords, from = 0, to = parsed.ids.length): void {
    const rows = Buffer.from(parsed.rows.buffer, parsed.rows.byteOffset, parsed.rows.byteLength);
    let runFrom = -1;
    let runTo = 0;
    const endRun = (): void => {
      if (runFrom < 0) return;
      this.parts.push(rows.subarray(runFrom, runTo));
      this.used += runTo - runFrom;
      runFrom = -1;
    };
    for (let i = from; i < to; i++) {
      const id = parsed.ids[i] as string;
      const hour = parsed.hours[i] as number;
      const h1 = parsed.idHashes[2 * i] as number;
      const h2 = parsed.idHashes[2 * i + 1] as number;
      if (!this.seen.add(h1, h2)) {
        this.seenIds ??= new Set(this.ids);
        if (this.seenIds.has(id)) {
          this.duplicates++;
          endRun();
          continue;
        }
      }
      this.seenIds?.add(id);
      if (this.maybeSealed(h1, h2, hour)) this.candidates.push(id);
      this.idHashes.push(h1, h2);
      const start = i === 0 ? 0 : (parsed.rowEnds[i - 1] as number);
      if (runFrom < 0) runFrom = start;
      runTo = parsed.rowEnds[i] as number;
      // The run becomes part number parts.length, starting at runFrom.
      this.rowPart.push(this.parts.length);
      this.rowStart.push(start - runFrom);
      this.rowEnd.push(runTo - runFrom);
      this.ids.push(id);
      this.hours.push(hour);
    }
    endRun();
  }

  /** The rows to insert, back to back (the buffers are not copied), leaving out the given ids. */
  pieces(without?: ReadonlySet<string>): Buffer[] {
    if (!without || without.size === 0) return this.parts;
    const out: Buffer[] = [];
    this.ids.forEach((id, i) => {
      if (!without.has(id)) out.push((this.parts[this.rowPart[i] as number] as Buffer).subarray(this.rowStart[i], this.rowEnd[i]));
    });
    return out;
  }
}

export interface RequestBatchWriterOptions {
  /** Ids remembered for in-memory duplicate checks; past this, the oldest hours are forgotten. Default 2M. */
  maxTrackedIds?: number;
}

export class RequestBatchWriter {
  /** Fingerprints of the ids of sealed batches, by hour (epoch hours). */
  private readonly sealedIds = new Map<number, FingerprintSet>();
  /** Rows this writer stored, by hour, including hours whose ids were forgotten. */
  private readonly writtenRows = new Map<number, number>();
  /** Hours whose ids were dropped to bound memory: batches touching them ask the warehouse. */
  private readonly forgotten = new Set<number>();
  private trackedIds = 0;
  private readonly maxTrackedIds: number;

  constructor(
    private readonly warehouse: Warehouse,
    options: RequestBatchWriterOptions = {},
  ) {
    this.maxTrackedIds = options.maxTrackedIds ?? 2_000_000;
  }

  newBatch(): RequestBatch {
    return new RequestBatch((h1, h2, hour) => this.sealedIds.get(hour)?.has(h1, h2) ?? false);
  }

  /**
   * Insert one batch, or several as one insert (the Kafka collector joins the
   * batches of several partitions: fewer, larger inserts), leaving out ids
   * already stored by others. The batches' ids are sealed at once (before any
   * await), so the next batch, filled while this insert runs, already sees
   * them. Retrying the same batches after a failure is safe: ids the failed
   * attempt did store are found and left out.
   */
  async write(batches: RequestBatch | readonly RequestBatch[]): Promise<FlushResult> {
    const all: readonly RequestBatch[] = batches instanceof RequestBatch ? [batches] : batches;
    const filled = all.filter((b) => b.size > 0);
    const refused = all.reduce((n, b) => n + b.duplicates, 0);
    if (filled.length === 0) return { written: 0, duplicates: refused };
    let minHour = Infinity;
    let maxHour = -Infinity;
    for (const batch of filled) {
      for (const hour of batch.hours) {
        if (hour < minHour) minHour = hour;
        if (hour > maxHour) maxHour = hour;
      }
    }
    let rows = 0;
    for (const batch of filled) {
      this.seal(batch, minHour);
      rows += batch.size;
    }
    let stored = new Set<string>();
    const candidates = filled.flatMap((b) => b.candidates);
    if (await this.mayHoldOthers(minHour, maxHour)) stored = await this.storedAmong(filled.flatMap((b) => b.ids), minHour, maxHour);
    else if (candidates.length > 0) stored = await this.storedAmong(candidates, minHour, maxHour);
    const leftOut = RequestBatchWriter.leftOut(filled, stored);
    // Rows kept, by hour: counted by row, not by id (the same stored id can sit in two joined batches).
    const keptByHour = new Map<number, number>();
    let kept = 0;
    const pieces = filled.flatMap((batch, b) => {
      const without = leftOut[b] as ReadonlySet<string>;
      batch.ids.forEach((id, i) => {
        if (without.has(id)) return;
        const hour = batch.hours[i] ?? 0;
        keptByHour.set(hour, (keptByHour.get(hour) ?? 0) + 1);
        kept++;
      });
      return batch.pieces(without);
    });
    if (kept > 0) {
      const body = pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
      await this.warehouse.insertCompact('inference_requests', REQUEST_COLUMNS, body, INSERT_SETTINGS);
    }
    for (const [hour, n] of keptByHour) this.writtenRows.set(hour, (this.writtenRows.get(hour) ?? 0) + n);
    return { written: kept, duplicates: refused + rows - kept };
  }

  /**
   * Ids each batch leaves out: those storage holds, and, when batches of
   * several partitions are joined into one insert, those an earlier batch of
   * the same insert carries (the same request produced to two partitions).
   * Found by fingerprint, confirmed by id, so a collision keeps its row.
   */
  private static leftOut(batches: readonly RequestBatch[], stored: ReadonlySet<string>): ReadonlySet<string>[] {
    const out: ReadonlySet<string>[] = batches.map(() => stored);
    if (batches.length < 2) return out;
    const joined = new FingerprintSet(batches.reduce((n, b) => n + b.size, 0));
    const suspects: { batch: number; id: string }[] = [];
    batches.forEach((batch, b) => {
      const { ids, idHashes } = batch;
      for (let i = 0; i < ids.length; i++) {
        if (!joined.add(idHashes[2 * i] as number, idHashes[2 * i + 1] as number)) suspects.push({ batch: b, id: ids[i] as string });
      }
    });
    if (suspects.length === 0) return out;
    const firstBatch = new Map<string, number>();
    batches.forEach((batch, b) => { for (const id of batch.ids) if (!firstBatch.has(id)) firstBatch.set(id, b); });
    const own = new Map<number, Set<string>>();
    for (const { batch, id } of suspects) {
      if ((firstBatch.get(id) ?? batch) >= batch) continue; // a fingerprint collision: the row stays
      let without = own.get(batch);
      if (!without) own.set(batch, (without = new Set(stored)));
      without.add(id);
      out[batch] = without;
    }
    return out;
  }

  /** Whether stored rows in these hours might include ids this writer cannot rule out in memory. */
  private async mayHoldOthers(minHour: number, maxHour: number): Promise<boolean> {
    let ours = 0;
    for (let hour = minHour; hour <= maxHour; hour++) {
      if (this.forgotten.has(hour)) return true;
      ours += this.writtenRows.get(hour) ?? 0;
    }
    const [stored] = await this.warehouse.query(
      sqlFile('queries/count-requests-in-hours'),
      { from_hour: hourString(minHour), to_hour: hourString(maxHour) },
      countRow,
    );
    return (stored?.n ?? 0) > ours;
  }

  private async storedAmong(ids: readonly string[], minHour: number, maxHour: number): Promise<Set<string>> {
    let text = '';
    for (const id of ids) text += `[${JSON.stringify(id)}]\n`;
    const rows = await this.warehouse.query(
      sqlFile('queries/existing-request-ids'),
      { ids: text, from_hour: hourString(minHour), to_hour: hourString(maxHour) },
      idRow,
    );
    return new Set(rows.map((r) => r.request_id));
  }

  private seal(batch: RequestBatch, batchMinHour: number): void {
    batch.hours.forEach((hour, i) => {
      if (this.forgotten.has(hour)) return;
      let ids = this.sealedIds.get(hour);
      if (!ids) this.sealedIds.set(hour, (ids = new FingerprintSet()));
      const before = ids.size;
      ids.add(batch.idHashes[2 * i] as number, batch.idHashes[2 * i + 1] as number);
      this.trackedIds += ids.size - before;
    });
    if (this.trackedIds <= this.maxTrackedIds) return;
    // Over budget: forget hours before this batch first (files are mostly in time order), oldest first.
    const hours = [...this.sealedIds.keys()].sort((a, b) => Number(a >= batchMinHour) - Number(b >= batchMinHour) || a - b);
    for (const hour of hours) {
      if (this.trackedIds <= this.maxTrackedIds / 2) break;
      this.trackedIds -= this.sealedIds.get(hour)?.size ?? 0;
      this.sealedIds.delete(hour);
      this.forgotten.add(hour);
    }
  }
}
