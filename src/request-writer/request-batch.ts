/**
 * The batch a request writer fills: serialised rows held as the parser's own
 * buffers (or, for a unit the engine parsed, left in the engine's stage),
 * with each row's id, hour, origin and id fingerprint in typed columns.
 * Filling a batch is per-row work on every ingestion path, so its
 * numbers live in typed columns and its rows are not copied; duplicates
 * within the batch are left out on the way in, so nothing later holds them.
 */
import { FingerprintSet } from '../events/id-fingerprints.js';
import type { ParsedRecords } from '../events/parse-records.js';
import type { StagedUnit } from '../events/staged-units.js';
import { conflictReason, contentOfRow, differingColumns } from './request-content.js';

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
  /** The unit whose rows wait in the engine's stage instead of here (events/staged-units.ts), until {@link unstage}. */
  private stagedUnit: StagedUnit | undefined;

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

  /** The staged unit holding this batch's rows, while they are in the engine only. */
  get staged(): StagedUnit | undefined {
    return this.stagedUnit;
  }

  /**
   * Take a staged unit's rows: ids, hours and fingerprints here, the rows in
   * the engine's stage. A staged unit fills a batch of its own, and its ids
   * are distinct (staging saw to it), so nothing is left out on the way in.
   * `originOf` numbers a row by its line in the unit.
   */
  addStaged(unit: StagedUnit, originOf: (record: number) => number): void {
    if (this.ids.length > 0 || this.stagedUnit) throw new Error('a staged unit fills a batch of its own');
    while (this.hourColumn.length < unit.size) this.growColumns();
    this.hashColumn.set(unit.idHashes);
    this.hourColumn.set(unit.hours);
    for (let i = 0; i < unit.size; i++) {
      this.originColumn[i] = originOf(unit.scan.rowRecords[i] as number);
      this.ids.push(unit.ids[i] as string);
    }
    this.stagedUnit = unit;
  }

  /**
   * Parse the staged rows in JavaScript and hold them here, as addRows
   * would, for a write that needs the rows themselves (a copy of an id is
   * stored, the warehouse refused a row). The stage itself is dropped by
   * the write (PendingWrite.release). Nothing to do when nothing is staged.
   */
  unstage(): void {
    const unit = this.stagedUnit;
    if (!unit) return;
    const parsed = unit.parse();
    // The engine claimed these lines as the schema's: JavaScript must read the same events from them.
    if (parsed.rejects.length > 0 || parsed.ids.length !== this.ids.length || parsed.ids.some((id, i) => id !== this.ids[i])) {
      throw new Error(`the engine and the event schema read a unit differently (${parsed.ids.length} rows and ${parsed.rejects.length} rejects against ${this.ids.length} staged rows)`);
    }
    const rows = Buffer.from(parsed.rows.buffer, parsed.rows.byteOffset, parsed.rows.byteLength);
    this.parts.push(rows);
    this.used = rows.length;
    for (let i = 0; i < this.ids.length; i++) {
      this.rowPart[i] = 0;
      this.rowStart[i] = i === 0 ? 0 : (parsed.rowEnds[i - 1] as number);
      this.rowEnd[i] = parsed.rowEnds[i] as number;
    }
    this.stagedUnit = undefined;
  }

  /**
   * Add rows [from, to) of a parsed chunk, leaving out ids already in this
   * batch (a different event under the same id is kept aside as a conflict).
   * `originOf` numbers a row by its record in the chunk.
   */
  addRows(parsed: ParsedRecords, from = 0, to = parsed.ids.length, originOf: (record: number) => number = (record) => record): void {
    if (this.stagedUnit) throw new Error('a staged unit fills a batch of its own');
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
    if (this.stagedUnit) throw new Error('the rows are in the engine\'s stage: unstage them first');
    return (this.parts[this.rowPart[i] as number] as Buffer).subarray(this.rowStart[i], this.rowEnd[i]);
  }

  /** The rows to insert, back to back (the buffers are not copied), leaving out the given ids. */
  pieces(without?: ReadonlySet<string>): Buffer[] {
    if (this.stagedUnit) throw new Error('the rows are in the engine\'s stage: unstage them first');
    if (!without || without.size === 0) return this.parts;
    const out: Buffer[] = [];
    this.ids.forEach((id, i) => {
      if (!without.has(id)) out.push(this.row(i));
    });
    return out;
  }
}
