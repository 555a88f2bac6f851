/**
 * One write of the request writer, and the state it builds up: the batches
 * stored as one insert, the hours they span widened by the duplicate
 * horizon, the stored copies found among their ids, which rows each batch
 * leaves out (duplicates, conflicts) and which the warehouse refused. Each
 * step of a write reads and adds to this one object, in order:
 * findStored -> judge -> insert -> countWritten (by the writer) -> result.
 *
 * An insert the warehouse refuses for a row's content is bisected
 * (insert-bisect.ts): the offending rows come back refused and the rest is
 * stored once, none of it twice when the failed insert had stored some.
 *
 * A batch whose rows wait in the engine's stage (events/staged-units.ts) is
 * inserted from there, engine to engine, leaving out what the judging left
 * out. When the write needs the rows themselves (a copy of one of its ids is
 * stored or in another batch of the write, the warehouse refused a row), the
 * batch parses them in JavaScript first (RequestBatch.unstage) and goes the
 * usual way.
 */
import type { ClickHouseSettings } from '@clickhouse/client';
import { REQUEST_COLUMNS } from '../events/request-event.js';
import { dropStage, type StagedUnit } from '../events/staged-units.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { isContentError } from '../warehouse/content-errors.js';
import { insertIsolating } from './insert-bisect.js';
import type { RefusedRow, RequestBatch } from './request-batch.js';
import type { RequestContent } from './request-content.js';
import { batchesWithCopies, crossBatchSuspects, judge, judgeHeldConflicts, storedAmong } from './stored-duplicates.js';

/**
 * One parsing thread per insert: the caller parses the next batch meanwhile,
 * and on two cores parallel parsing only fought it for CPU (bench/ingest-file).
 */
const INSERT_SETTINGS: ClickHouseSettings = { input_format_parallel_parsing: 0 };

export interface FlushResult {
  written: number;
  /** Copies identical to one stored or written before: not stored, counted once. */
  duplicates: number;
  refused: RefusedRow[];
}

export class PendingWrite {
  /** First and last epoch hour a copy of the write's ids may be stored in. */
  readonly fromHour: number;
  readonly toHour: number;
  /** Lowest event hour of the write (memory is trimmed around it). */
  readonly minHour: number;
  /** Per batch, the ids it leaves out: copies of a stored id or of an earlier batch's. */
  leftOut: readonly ReadonlySet<string>[];
  /** Ids whose rows the warehouse refused for their content. */
  engineRefused: ReadonlySet<string> = new Set();
  private stored: ReadonlyMap<string, RequestContent> = new Map();
  private duplicates: number;
  private readonly refused: RefusedRow[] = [];
  /** Every staged unit of the write's batches: their stages are dropped when the write ends ({@link release}). */
  private readonly stagedUnits: StagedUnit[];

  constructor(readonly batches: readonly RequestBatch[], horizonHours: number) {
    let minHour = Infinity;
    let maxHour = -Infinity;
    for (const batch of batches) {
      for (const hour of batch.hours) {
        if (hour < minHour) minHour = hour;
        if (hour > maxHour) maxHour = hour;
      }
    }
    this.minHour = minHour;
    this.fromHour = minHour - horizonHours;
    this.toHour = maxHour + horizonHours;
    this.leftOut = batches.map(() => new Set<string>());
    this.duplicates = batches.reduce((n, b) => n + b.duplicates, 0);
    this.stagedUnits = batches.flatMap((b) => (b.staged ? [b.staged] : []));
  }

  /** No row to store (a batch of duplicates and conflicts within itself only). */
  get empty(): boolean {
    return this.batches.every((b) => b.size === 0);
  }

  /** Every id of the write, or only those the writer's memory cannot rule out. */
  ids(which: 'all' | 'candidates'): string[] {
    return this.batches.flatMap((b) => (which === 'all' ? b.ids : b.candidates));
  }

  /** Look these ids up in storage, in the write's hours. */
  async findStored(warehouse: Warehouse, ids: readonly string[]): Promise<void> {
    this.stored = await storedAmong(warehouse, ids, this.fromHour, this.toHour);
  }

  /** Decide, row by row, what is left out: copies of stored ids, of earlier batches' ids, and the conflicts each batch held aside. */
  judge(): void {
    const suspects = crossBatchSuspects(this.batches);
    // Judging a copy compares rows: a staged batch holding a copy (or a first copy) brings its rows out first.
    for (const batch of batchesWithCopies(this.batches, this.stored, suspects)) batch.unstage();
    const verdict = judge(this.batches, this.stored, suspects);
    this.duplicates += judgeHeldConflicts(this.batches, this.stored, this.refused) + verdict.duplicates;
    this.refused.push(...verdict.refused);
    this.leftOut = verdict.leftOut;
  }

  /** Store every row not left out, as one insert; on a refusal for content, row by row (bisected). */
  async insert(warehouse: Warehouse): Promise<void> {
    const pieces = this.batches.flatMap((batch, b) => (batch.staged ? [] : batch.pieces(this.leftOut[b])));
    const staged = this.batches.flatMap((batch, b) => (batch.staged ? [{ unit: batch.staged, without: this.leftOut[b] as ReadonlySet<string> }] : []));
    try {
      if (pieces.length > 0) await insertRequestRows(warehouse, pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces));
      if (staged.length > 0) await insertStagedRows(warehouse, staged);
    } catch (err) {
      if (!isContentError(err)) throw err;
      for (const batch of this.batches) batch.unstage();
      this.engineRefused = await this.insertIsolated(warehouse, err);
    }
  }

  /**
   * Drop the stages of the write's staged units. After a failed write, a
   * batch still staged first takes its rows out, so that retrying the same
   * batches (the Kafka collector does) needs no stage.
   */
  async release(warehouse: Warehouse, failed: boolean): Promise<void> {
    if (!failed) {
      for (const unit of this.stagedUnits) await dropStage(warehouse, unit);
      return;
    }
    // The write's own failure is the one to report: a stage left behind here is dropped by the next run.
    try {
      for (const batch of this.batches) batch.unstage();
      for (const unit of this.stagedUnits) await dropStage(warehouse, unit);
    } catch {
      /* reported by the write's own failure */
    }
  }

  /** What the write did, once the writer has counted the rows written. */
  result(written: number): FlushResult {
    return { written, duplicates: this.duplicates, refused: this.refused };
  }

  /**
   * The insert was refused for its content: store what can be stored, one
   * bisected half at a time, and add the rows the engine refuses to the
   * refused; returns their ids. Rows the failed insert did store (none,
   * when the insert was one block) are looked up first and not inserted again.
   */
  private async insertIsolated(warehouse: Warehouse, failure: unknown): Promise<Set<string>> {
    const keptRows: { batch: RequestBatch; index: number; row: number }[] = [];
    this.batches.forEach((batch, index) => {
      const without = this.leftOut[index] as ReadonlySet<string>;
      batch.ids.forEach((id, row) => { if (!without.has(id)) keptRows.push({ batch, index, row }); });
    });
    const idOf = (k: { batch: RequestBatch; row: number }): string => k.batch.ids[k.row] as string;
    const already = await storedAmong(warehouse, keptRows.map(idOf), this.fromHour, this.toHour);
    const toInsert = keptRows.filter((k) => !already.has(idOf(k)));
    const byEngine = await insertIsolating(
      toInsert.map((k) => k.batch.row(k.row)),
      (body) => insertRequestRows(warehouse, body),
      already.size === 0 ? failure : undefined,
    );
    const out = new Set<string>();
    for (const [position, why] of byEngine) {
      const k = toInsert[position] as (typeof toInsert)[number];
      const id = idOf(k);
      out.add(id);
      this.refused.push({ batch: k.index, origin: k.batch.origins[k.row] as number, id, field: why.field, reason: why.reason, row: Buffer.from(k.batch.row(k.row)) });
    }
    return out;
  }
}

/** Insert staged units' rows, engine to engine, as one insert, leaving out the given ids of each. */
function insertStagedRows(warehouse: Warehouse, staged: readonly { unit: StagedUnit; without: ReadonlySet<string> }[]): Promise<void> {
  const stages = staged.map((s) => s.unit.stage);
  return warehouse.command(sqlFile('ingest/insert-staged-requests'), {
    // Stage names are a prefix and hex digits: nothing in them needs escaping.
    stage_pattern: `^(${stages.join('|')})$`,
    stages,
    sources: staged.map((s) => s.unit.columns.source),
    ingested_at: staged.map((s) => s.unit.columns.ingestedAt),
    left_out: staged.flatMap((s) => [...s.without]),
  });
}

/** Insert serialised rows (JSONCompactEachRow) as one insert. */
function insertRequestRows(warehouse: Warehouse, body: Buffer): Promise<void> {
  return warehouse.insertCompact('inference_requests', REQUEST_COLUMNS, body, INSERT_SETTINGS);
}
