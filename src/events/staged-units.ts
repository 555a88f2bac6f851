/**
 * The engine as the parser: a unit of NDJSON request lines (several MB) is
 * parsed and checked by the embedded engine itself, into a stage table in
 * its memory, and its rows go on into inference_requests engine to engine
 * (request-writer/pending-write.ts). JavaScript sees only each row's id and
 * hour, which the request writer needs to find duplicates. On this path an
 * event costs a fraction of JSON.parse + zod + serialising
 * (bench/ingest-file).
 *
 * All or nothing per unit: a unit is staged only when every line is an event
 * the schema accepts, read alike by both parsers (engine-scan.ts), with no id
 * twice. Anything else (a reject, a duplicate, an odd form) sends the whole
 * unit to the JavaScript parser, so rejects, reasons and duplicates are
 * always judged by the schema and the writer's own code. A staged unit keeps
 * its file in the engine's sandbox until it is written, not its bytes in
 * memory: when the writer needs the rows themselves (a copy of an id is
 * already stored, the warehouse refuses a row), it parses the file in
 * JavaScript, which gives the same rows (test/engine-stage.test.ts).
 */
import { readFileSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { FingerprintSet, fingerprintId } from './id-fingerprints.js';
import { parseRecords, type ParsedRecords } from './parse-records.js';
import { LIMITS } from './request-event.js';
import type { EngineScan } from './engine-scan.js';
import { isContentError } from '../warehouse/content-errors.js';
import { RowBinaryReader } from '../warehouse/row-binary.js';
import { sqlFile } from '../warehouse/sql-files.js';
import { StageTables } from '../warehouse/stage-tables.js';
import type { Warehouse } from '../warehouse/warehouse.js';

const requestStages = new StageTables('request_stage_');

export interface StageOptions {
  /** `source` and `ingested_at` columns of every row. */
  source: string;
  ingestedAt: string;
  /** Longer lines are rejected unread (by the JavaScript parser: a unit with one is never staged). */
  maxRecordBytes: number;
  /** The clock events are judged against: no later than `now + 1 day`. */
  nowMs: number;
}

/** A unit whose rows wait in a stage table, ready for the request writer. */
export class StagedUnit {
  constructor(
    /** The stage table holding the rows, in line order. */
    readonly stage: string,
    readonly scan: EngineScan,
    readonly ids: readonly string[],
    /** Two hashes per row's id (id-fingerprints.ts). */
    readonly idHashes: Uint32Array,
    /** Event hour of each row, in hours since the epoch. */
    readonly hours: Int32Array,
    /** The unit's lines, in the engine's sandbox: kept until the stage is dropped. */
    readonly path: string,
    private readonly options: StageOptions,
  ) {}

  get size(): number {
    return this.ids.length;
  }

  /** The `source` and `ingested_at` every row of the unit gets. */
  get columns(): { source: string; ingestedAt: string } {
    return { source: this.options.source, ingestedAt: this.options.ingestedAt };
  }

  /** The unit parsed by JavaScript: the rows the stage holds, serialised as the parser threads give them. */
  parse(): ParsedRecords {
    const { source, ingestedAt, maxRecordBytes } = this.options;
    return parseRecords({ mode: 'lines', bytes: readFileSync(this.path), maxRecordBytes, source, ingestedAt });
  }
}

/** Whether this warehouse can parse units itself: the embedded one reads files from its own sandbox. */
export function canStageUnits(warehouse: Warehouse): boolean {
  return warehouse.backend === 'chdb' && warehouse.dataDir !== undefined;
}

/**
 * Stage `unit` (whole lines, scanned by scanForEngine) in the engine, or say
 * why not; a unit refused leaves nothing behind. Throws when the warehouse
 * fails for any reason other than the unit's content.
 */
export async function stageUnit(warehouse: Warehouse, unit: Buffer, scan: EngineScan, options: StageOptions): Promise<StagedUnit | { refused: string }> {
  if (warehouse.dataDir === undefined) throw new Error('only the embedded warehouse stages units');
  if (scan.rowRecords.length === 0) return { refused: 'no events' };
  const stage = requestStages.claim();
  // The engine reads files from its sandbox only; the name is the stage's, so a killed run's file is found again.
  const path = join(warehouse.dataDir, 'sandbox', `${stage}.ndjson`);
  let staged: StagedUnit | { refused: string } | undefined;
  try {
    await writeFile(path, unit);
    await warehouse.command(sqlFile('ingest/create-request-stage'), { stage });
    try {
      await warehouse.command(sqlFile('ingest/stage-request-events'), { stage, path, latest_ms: options.nowMs + LIMITS.maxFutureSkewMs });
    } catch (err) {
      // A strict read fails the statement on a form the schema would judge (a number for a text field, an unknown
      // field, a duplicate key): the schema judges it in JavaScript. Any other failure is the warehouse's.
      if (!isContentError(err)) throw err;
      return (staged = { refused: `the engine's strict read refused the unit: ${firstLine((err as Error).message)}` });
    }
    const answer = new RowBinaryReader(await warehouse.queryBytes(sqlFile('ingest/staged-request-ids'), { stage }, 'RowBinary'));
    const rows = scan.rowRecords.length;
    const ids: string[] = [];
    const hours = new Int32Array(rows);
    while (!answer.done) {
      const index = answer.uint32();
      const valid = answer.uint8();
      const id = answer.string();
      const hour = answer.int32();
      if (index !== ids.length || ids.length >= rows) return (staged = { refused: `the engine read other rows than the unit's ${rows} lines` });
      if (valid !== 1) return (staged = { refused: `line ${(scan.rowRecords[index] as number) + 1} is not an event the engine claims` });
      hours[ids.length] = hour;
      ids.push(id);
    }
    if (ids.length !== rows) return (staged = { refused: `the engine read ${ids.length} rows from ${rows} lines` });
    const idHashes = new Uint32Array(2 * rows);
    const seen = new FingerprintSet(rows);
    let suspects = false;
    for (let i = 0; i < rows; i++) {
      fingerprintId(ids[i] as string, idHashes, 2 * i);
      if (!seen.add(idHashes[2 * i] as number, idHashes[2 * i + 1] as number)) suspects = true;
    }
    // A fingerprint seen twice is a repeated id or (rarely) a collision: the ids tell.
    if (suspects && new Set(ids).size < rows) return (staged = { refused: 'an id comes twice' });
    return (staged = new StagedUnit(stage, scan, ids, idHashes, hours, path, options));
  } finally {
    if (!(staged instanceof StagedUnit)) {
      await rm(path, { force: true });
      await requestStages.drop(warehouse, [stage]);
    }
  }
}

/** Drop the stage (and the file) of a unit that is written (or given up). */
export async function dropStage(warehouse: Warehouse, unit: StagedUnit): Promise<void> {
  await rm(unit.path, { force: true });
  await requestStages.drop(warehouse, [unit.stage]);
}

/**
 * Drop the stages of runs that ended without dropping them, and (embedded:
 * this process alone holds the data directory) the unit files they left in
 * the sandbox; returns the tables dropped.
 */
export async function dropStaleStages(warehouse: Warehouse): Promise<string[]> {
  const dropped = await requestStages.dropStale(warehouse);
  if (warehouse.dataDir !== undefined) {
    const sandbox = join(warehouse.dataDir, 'sandbox');
    for (const file of await readdir(sandbox)) {
      const stage = basename(file, '.ndjson');
      if (file.endsWith('.ndjson') && stage.startsWith(requestStages.prefix) && !requestStages.isLive(stage)) await rm(join(sandbox, file), { force: true });
    }
  }
  return dropped;
}

function firstLine(text: string): string {
  return text.split('\n', 1)[0] ?? '';
}
