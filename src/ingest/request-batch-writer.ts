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
 */
import type { ClickHouseSettings } from '@clickhouse/client';
import { z } from 'zod';
import { REQUEST_COLUMNS } from '../events/request-event.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { formatDateTime, HOUR_MS } from '../util/time.js';
import { FingerprintHours, FingerprintSet } from './id-fingerprints.js';
import { insertIsolating, isContentError } from './insert-bisect.js';
import type { ParsedRecords } from './parse-records.js';
import { conflictReason, contentOfRow, contentOfStored, differingColumns, storedRequestRow, type RequestContent } from './request-content.js';

/** A row not stored: a conflicting duplicate, or content the warehouse refused. */
export interface RefusedRow {
  /** Index, in the batches given to `write`, of the batch the row came from. */
  batch: number;
  /** Where the row came from, as given to `addRows` (a file's line number, a message's offset). */
  origin: number;
  id: string;
  field: string;
  reason: string;
  /** The row as serialised for the insert (JSONCompactEachRow, newline included). */
  row: Buffer;
}

export interface FlushResult {
  written: number;
  /** Copies identical to one stored or written before: not stored, counted once. */
  duplicates: number;
  refused: RefusedRow[];
}

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
 * of the Kafka path), with each row's id, hour and origin.
 */
export class RequestBatch {
  private readonly parts: Buffer[] = [];
  private used = 0;
  readonly ids: string[] = [];
  /*
   * Per-row numbers in typed columns sized for the expected rows: growing
   * plain arrays row by row (and boxing 32-bit hashes) was the top cost of
   * filling a batch. Read them through the views below, taken once per loop.
   */
  private hourColumn: Int32Array;
  private originColumn: Float64Array;
  private hashColumn: Uint32Array;
  /** Row i is parts[rowPart[i]] from rowStart[i] to rowEnd[i] (newline included). */
  private rowPart: Int32Array;
  private rowStart: Int32Array;
  private rowEnd: Int32Array;
  /** Ids whose fingerprint the writer had sealed before within the horizon (found when this batch is sealed): duplicates only if storage has them. */
  readonly candidates: string[] = [];
  /** Rows refused because their id was already in this batch with other content. */
  readonly conflicts: Omit<RefusedRow, 'batch'>[] = [];
  /** Fingerprints of this batch's ids; a hit is confirmed against the ids themselves. */
  private readonly seen: FingerprintSet;
  /** This batch's ids and their rows, built on the first fingerprint hit (most batches never have one) and kept from then on. */
  private seenIds: Map<string, number> | undefined;
  /** Rows left out because the same event was already in this batch. */
  duplicates = 0;

  /** @param expectedRows rows the batch will likely hold: its id table is sized for them once, not regrown on the way. */
  constructor(expectedRows = 1024) {
    this.seen = new FingerprintSet(expectedRows);
    const capacity = Math.max(16, expectedRows);
    this.hourColumn = new Int32Array(capacity);
    this.originColumn = new Float64Array(capacity);
    this.hashColumn = new Uint32Array(2 * capacity);
    this.rowPart = new Int32Array(capacity);
    this.rowStart = new Int32Array(capacity);
    this.rowEnd = new Int32Array(capacity);
  }

  /** Event hour (epoch hours) of each row. */
  get hours(): Int32Array {
    return this.hourColumn.subarray(0, this.ids.length);
  }

  /** Where each row came from (caller's numbering), for rejects and dead letters. */
  get origins(): Float64Array {
    return this.originColumn.subarray(0, this.ids.length);
  }

  /** Fingerprint of row i's id: idHashes[2i], idHashes[2i + 1]. */
  get idHashes(): Uint32Array {
    return this.hashColumn.subarray(0, 2 * this.ids.length);
  }

  private growColumns(): void {
    const grown = <T extends Int32Array | Float64Array | Uint32Array>(column: T): T => {
      const next = new (column.constructor as new (n: number) => T)(column.length * 2);
      next.set(column);
      return next;
    };
    this.hourColumn = grown(this.hourColumn);
    this.originColumn = grown(this.originColumn);
    this.hashColumn = grown(this.hashColumn);
    this.rowPart = grown(this.rowPart);
    this.rowStart = grown(this.rowStart);
    this.rowEnd = grown(this.rowEnd);
  }

  /** Bytes of rows held. */
  get bytes(): number {
    return this.used;
  }

  get size(): number {
    return this.ids.length;
  }

  /**
   * Add rows [from, to) of a parsed chunk, leaving out ids already in this
   * batch (a different event under the same id is kept aside as a conflict).
   * `originOf` numbers a row by its record in the chunk.
   */
  addRows(parsed: ParsedRecords, from = 0, to = parsed.ids.length, originOf: (record: number) => number = (record) => record): void {
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
      const start = i === 0 ? 0 : (parsed.rowEnds[i - 1] as number);
      if (!this.seen.add(h1, h2)) {
        this.seenIds ??= new Map(this.ids.map((x, j) => [x, j]));
        const first = this.seenIds.get(id);
        if (first !== undefined) {
          // The first copy may sit in the run still open (not yet in parts).
          const open = (this.rowPart[first] as number) >= this.parts.length;
          const firstRow = open
            ? rows.subarray(runFrom + (this.rowStart[first] as number), runFrom + (this.rowEnd[first] as number))
            : this.row(first);
          const row = rows.subarray(start, parsed.rowEnds[i]);
          const differ = differingColumns(contentOfRow(firstRow), contentOfRow(row));
          if (differ.length === 0) this.duplicates++;
          else this.conflicts.push({ origin: originOf(parsed.rowRecords[i] as number), id, field: differ.join(','), reason: conflictReason(id, differ), row: Buffer.from(row) });
          endRun();
          continue;
        }
      }
      const n = this.ids.length;
      if (n === this.hourColumn.length) this.growColumns();
      this.seenIds?.set(id, n);
      this.hashColumn[2 * n] = h1;
      this.hashColumn[2 * n + 1] = h2;
      if (runFrom < 0) runFrom = start;
      runTo = parsed.rowEnds[i] as number;
      // The run becomes part number parts.length, starting at runFrom.
      this.rowPart[n] = this.parts.length;
      this.rowStart[n] = start - runFrom;
      this.rowEnd[n] = runTo - runFrom;
      this.hourColumn[n] = hour;
      this.originColumn[n] = originOf(parsed.rowRecords[i] as number);
      this.ids.push(id);
    }
    endRun();
  }

  /** Row i as serialised (a view, not a copy). */
  row(i: number): Buffer {
    return (this.parts[this.rowPart[i] as number] as Buffer).subarray(this.rowStart[i], this.rowEnd[i]);
  }

  /** The rows to insert, back to back (the buffers are not copied), leaving out the given ids. */
  pieces(without?: ReadonlySet<string>): Buffer[] {
    if (!without || without.size === 0) return this.parts;
    const out: Buffer[] = [];
    this.ids.forEach((id, i) => {
      if (!without.has(id)) out.push(this.row(i));
    });
    return out;
  }
}

export interface RequestBatchWriterOptions {
  /** Ids remembered for in-memory duplicate checks; past this, the oldest hours are forgotten. Default 2M. */
  maxTrackedIds?: number;
  /** A copy of an id within this many hours of the first copy's hour is a duplicate (identical) or a conflict (different). Default 48. */
  horizonHours?: number;
}

/** What one write decided for the rows of its batches. */
interface Verdict {
  /** Per batch, the ids it leaves out. */
  leftOut: ReadonlySet<string>[];
  duplicates: number;
  refused: RefusedRow[];
}

export class RequestBatchWriter {
  /** Fingerprints of the ids of sealed batches, with the hour of their first copy. */
  private readonly sealedIds = new FingerprintHours();
  /** Rows this writer stored, by hour, including hours whose ids were forgotten. */
  private readonly writtenRows = new Map<number, number>();
  /** Hours whose ids were dropped to bound memory: batches near them ask the warehouse. */
  private readonly forgotten = new Set<number>();
  private readonly maxTrackedIds: number;
  private readonly horizon: number;

  constructor(
    private readonly warehouse: Warehouse,
    options: RequestBatchWriterOptions = {},
  ) {
    this.maxTrackedIds = options.maxTrackedIds ?? 2_000_000;
    this.horizon = options.horizonHours ?? 48;
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
    for (const batch of all) this.seal(batch, minHour);
    const fromHour = minHour - this.horizon;
    const toHour = maxHour + this.horizon;
    let stored = new Map<string, RequestContent>();
    const candidates = all.flatMap((b) => b.candidates);
    if (await this.mayHoldOthers(fromHour, toHour)) stored = await this.storedAmong(all.flatMap((b) => b.ids), fromHour, toHour);
    else if (candidates.length > 0) stored = await this.storedAmong(candidates, fromHour, toHour);
    const verdict = RequestBatchWriter.judge(all, stored);
    const refused: RefusedRow[] = [];
    // A copy that conflicted with an earlier copy in its batch is judged against the stored copy when there is one: that one came first.
    all.forEach((b, batch) => {
      for (const c of b.conflicts) {
        const first = stored.get(c.id);
        const differ = first ? differingColumns(first, contentOfRow(c.row)) : undefined;
        if (differ?.length === 0) inBatches++;
        else refused.push({ batch, ...c, ...(differ ? { field: differ.join(','), reason: conflictReason(c.id, differ) } : {}) });
      }
    });
    refused.push(...verdict.refused);
    const pieces = all.flatMap((batch, b) => batch.pieces(verdict.leftOut[b]));
    let engineRefused = new Set<string>();
    if (pieces.length > 0) {
      const body = pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
      try {
        await this.warehouse.insertCompact('inference_requests', REQUEST_COLUMNS, body, INSERT_SETTINGS);
      } catch (err) {
        if (!isContentError(err)) throw err;
        engineRefused = await this.isolate(all, verdict, refused, fromHour, toHour, err);
      }
    }
    // Rows kept, by hour: counted by row, not by id (the same stored id can sit in two joined batches).
    let kept = 0;
    all.forEach((batch, b) => {
      const without = verdict.leftOut[b] as ReadonlySet<string>;
      const { hours } = batch;
      batch.ids.forEach((id, i) => {
        if (without.has(id) || engineRefused.has(id)) return;
        const hour = hours[i] ?? 0;
        this.writtenRows.set(hour, (this.writtenRows.get(hour) ?? 0) + 1);
        kept++;
      });
    });
    return { written: kept, duplicates: inBatches + verdict.duplicates, refused };
  }

  /**
   * The insert was refused for its content: store what can be stored, one
   * bisected half at a time, and add the rows the engine refuses to
   * `refused`. Rows the failed insert did store (none, when the insert was
   * one block) are looked up first and not inserted again.
   */
  private async isolate(all: readonly RequestBatch[], verdict: Verdict, refused: RefusedRow[], fromHour: number, toHour: number, failure: unknown): Promise<Set<string>> {
    const keptRows: { batch: number; row: number }[] = [];
    all.forEach((batch, b) => {
      const without = verdict.leftOut[b] as ReadonlySet<string>;
      batch.ids.forEach((id, i) => { if (!without.has(id)) keptRows.push({ batch: b, row: i }); });
    });
    const idOf = (k: { batch: number; row: number }): string => (all[k.batch] as RequestBatch).ids[k.row] as string;
    const already = await this.storedAmong(keptRows.map(idOf), fromHour, toHour);
    const toInsert = keptRows.filter((k) => !already.has(idOf(k)));
    const byEngine = await insertIsolating(
      toInsert.map((k) => (all[k.batch] as RequestBatch).row(k.row)),
      (body) => this.warehouse.insertCompact('inference_requests', REQUEST_COLUMNS, body, INSERT_SETTINGS),
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

  /**
   * Which rows each batch leaves out: copies of stored ids, and, when batches
   * of several partitions are joined into one insert, copies of an id an
   * earlier batch of the same insert carries. A copy identical to the first
   * is a duplicate; a different one is refused as a conflict. Found by
   * fingerprint, confirmed by id, so a collision keeps its row.
   */
  private static judge(batches: readonly RequestBatch[], stored: ReadonlyMap<string, RequestContent>): Verdict {
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
    if (batches.length < 2) return verdict;
    const joined = new FingerprintSet(batches.reduce((n, b) => n + b.size, 0));
    const suspects: { batch: number; row: number }[] = [];
    batches.forEach((batch, b) => {
      const { idHashes } = batch;
      for (let i = 0; i < batch.size; i++) {
        if (!joined.add(idHashes[2 * i] as number, idHashes[2 * i + 1] as number)) suspects.push({ batch: b, row: i });
      }
    });
    if (suspects.length === 0) return verdict;
    const firstCopy = new Map<string, { batch: number; row: number }>();
    batches.forEach((batch, b) => { batch.ids.forEach((id, i) => { if (!firstCopy.has(id)) firstCopy.set(id, { batch: b, row: i }); }); });
    for (const { batch: b, row: i } of suspects) {
      const id = (batches[b] as RequestBatch).ids[i] as string;
      const first = firstCopy.get(id);
      if (!first || first.batch >= b || stored.has(id)) continue; // a fingerprint collision, or already judged against storage
      decide(b, i, contentOfRow((batches[first.batch] as RequestBatch).row(first.row)));
    }
    return verdict;
  }

  /** Whether stored rows in these hours might include ids this writer cannot rule out in memory. */
  private async mayHoldOthers(fromHour: number, toHour: number): Promise<boolean> {
    for (const hour of this.forgotten) if (hour >= fromHour && hour <= toHour) return true;
    let ours = 0;
    for (const [hour, n] of this.writtenRows) if (hour >= fromHour && hour <= toHour) ours += n;
    const [stored] = await this.warehouse.query(
      sqlFile('queries/count-requests-in-hours'),
      { from_hour: hourString(fromHour), to_hour: hourString(toHour) },
      countRow,
    );
    return (stored?.n ?? 0) > ours;
  }

  /** The stored copy of each of these ids in the hour range, as comparable content. The ids travel in the request body. */
  private async storedAmong(ids: readonly string[], fromHour: number, toHour: number): Promise<Map<string, RequestContent>> {
    const out = new Map<string, RequestContent>();
    if (ids.length === 0) return out;
    let text = '';
    for (const id of ids) text += `[${JSON.stringify(id)}]\n`;
    const rows = await this.warehouse.queryWithTable(
      sqlFile('queries/existing-request-ids'),
      { from_hour: hourString(fromHour), to_hour: hourString(toHour) },
      { param: 'ids', columns: [['request_id', 'String']], body: text },
      storedRequestRow,
    );
    for (const row of rows) out.set(row.request_id, contentOfStored(row));
    return out;
  }

  /**
   * Remember the batch's ids with their hours, and list as candidates those
   * sealed before within the horizon (by an earlier batch, or by this one
   * on an earlier attempt of the same write): one probe of the table per row.
   * Rows of forgotten hours are left to the storage check (mayHoldOthers).
   */
  private seal(batch: RequestBatch, batchMinHour: number): void {
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
