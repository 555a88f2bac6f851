/**
 * `inferledger ingest requests`: NDJSON request events (plain or gzip) into
 * inference_requests, streamed so memory stays flat whatever the file size.
 * Every line ends accepted, duplicate or rejected (with line, field, reason).
 *
 * Two parsers, one outcome. With the embedded warehouse, the file goes in
 * units of several MB to the engine, which parses them itself
 * (events/staged-units.ts); a unit the engine does not take whole (a reject,
 * a repeated id, a form it reads otherwise than JSON.parse) goes, like every
 * unit on a ClickHouse server, to the parser threads (events/parser-pool.ts).
 */
import { basename } from 'node:path';
import { formatDateTime64 } from '../events/request-event.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { IngestRun, readErrorMessage, WarehouseWriteError, type RunSummary } from './ingest-run.js';
import { openText, readSegments, type Segment } from './line-reader.js';
import type { ParsedRecords } from '../events/parse-records.js';
import { ParserPool } from '../events/parser-pool.js';
import { canStageUnits, dropStaleStages, StagedUnit, stageUnit } from '../events/staged-units.js';
import type { RequestBatch } from '../request-writer/request-batch.js';
import { RequestBatchWriter } from '../request-writer/request-batch-writer.js';

export interface IngestRequestsOptions {
  /** Rows per insert. */
  batchRows: number;
  /** Longer lines are rejected unread. */
  maxLineBytes: number;
  /** Parser threads; one less than the cores when unset. */
  parserThreads?: number | undefined;
  /** Hours around an event within which a second copy of its id is a duplicate or a conflict; default 48. */
  duplicateHorizonHours?: number | undefined;
  /**
   * Bytes of lines the embedded engine parses at a time; 0: the parser
   * threads parse everything. Default {@link ENGINE_UNIT_BYTES}. Ignored on
   * a ClickHouse server.
   */
  engineUnitBytes?: number | undefined;
}

/**
 * Default bytes of a unit the engine parses (the configuration's
 * ingest.engineUnitBytes): each statement has a fixed cost of ~10-30 ms, so
 * units are large; larger ones gained nothing and held more memory
 * (bench/ingest-file).
 */
export const ENGINE_UNIT_BYTES = 16 << 20;

/** Segments parsed ahead of the one being batched: keeps the parser threads busy, bounds memory (~1 MB each). */
const SEGMENTS_AHEAD = 4;
/** Units staged ahead of the one being written: the next one is parsed while this one is inserted. */
const UNITS_AHEAD = 1;

export async function ingestRequestFiles(
  warehouse: Warehouse,
  files: readonly string[],
  options: IngestRequestsOptions,
): Promise<RunSummary> {
  const run = new IngestRun(warehouse, 'requests', 'ndjson');
  // One writer for the whole run, so duplicates across its files are found in memory too.
  const writer = new RequestBatchWriter(warehouse, options.duplicateHorizonHours === undefined ? {} : { horizonHours: options.duplicateHorizonHours });
  const parsers = new ParserPool(options.parserThreads);
  const engineUnitBytes = canStageUnits(warehouse) ? (options.engineUnitBytes ?? ENGINE_UNIT_BYTES) : 0;
  if (engineUnitBytes > 0) await dropStaleStages(warehouse);
  try {
    for (const file of files) await ingestOneFile(warehouse, writer, parsers, run, file, { ...options, engineUnitBytes });
  } finally {
    await parsers.close();
  }
  return run.finish();
}

/**
 * A segment on its way through a parser thread, a unit on its way into the
 * engine's stage (or, when the engine does not take it, on its way through
 * a parser thread), or a line the reader refused.
 */
type Pending =
  | { parsing: Promise<ParsedRecords> }
  | { staging: Promise<StagedUnit | ParsedRecords> }
  | { problem: string; head: string };

async function ingestOneFile(
  warehouse: Warehouse,
  writer: RequestBatchWriter,
  parsers: ParserPool,
  run: IngestRun,
  file: string,
  options: IngestRequestsOptions & { engineUnitBytes: number },
): Promise<void> {
  const summary = run.startFile(file);
  const source = `file:${basename(file)}`;
  const ingestedAt = formatDateTime64(Date.now());
  let batch = writer.newBatch(options.batchRows);
  let linesSeen = 0;
  /** Lines before the segment being batched: rejects are numbered from here. */
  let lineBase = 0;
  // One batch inserts while the next one is filled; never more, so memory stays bounded.
  let inFlight: Promise<void> = Promise.resolve();
  const ahead: Pending[] = [];

  const write = async (rows: RequestBatch): Promise<void> => {
    let result;
    try {
      result = await writer.write(rows);
    } catch (err) {
      throw new WarehouseWriteError(err);
    }
    summary.accepted += result.written;
    summary.duplicates += result.duplicates;
    // Conflicting duplicates and rows the warehouse refused: rejected like a bad line, the rest of the batch is stored.
    for (const r of result.refused) {
      await run.reject(summary, { source: file, line: r.origin, field: r.field, reason: r.reason, raw: r.row.toString('utf8').trimEnd() });
    }
  };
  const startWrite = async (rows: RequestBatch): Promise<void> => {
    await inFlight;
    inFlight = write(rows);
    inFlight.catch(() => undefined); // observed by the next await; avoids an unhandled rejection meanwhile
  };
  const parse = (lines: Buffer): Promise<ParsedRecords> => parsers.parse({ mode: 'lines', bytes: lines, maxRecordBytes: options.maxLineBytes, source, ingestedAt });
  /** A unit to the engine, when it takes it whole; otherwise to a parser thread. */
  const stage = async (segments: Buffer[]): Promise<StagedUnit | ParsedRecords> => {
    const { scanned, bytes } = await parsers.scan(segments.length === 1 ? (segments[0] as Buffer) : Buffer.concat(segments), options.maxLineBytes);
    const unit = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if ('refused' in scanned) return parse(unit);
    let staged;
    try {
      staged = await stageUnit(warehouse, unit, scanned, { source, ingestedAt, maxRecordBytes: options.maxLineBytes, nowMs: Date.now() });
    } catch (err) {
      throw new WarehouseWriteError(err);
    }
    return 'refused' in staged ? parse(unit) : staged;
  };
  /** Batch a parsed segment: its rows into batches, its rejects numbered and recorded. */
  const batchParsed = async (parsed: ParsedRecords): Promise<void> => {
    linesSeen += parsed.records - parsed.blank;
    for (const r of parsed.rejects) {
      await run.reject(summary, { source: file, line: lineBase + r.record + 1, field: r.field, reason: r.reason, raw: r.raw });
    }
    const base = lineBase;
    const lineOf = (record: number): number => base + record + 1;
    lineBase += parsed.records;
    for (let from = 0; from < parsed.ids.length;) {
      const to = Math.min(parsed.ids.length, from + options.batchRows - batch.size);
      batch.addRows(parsed, from, to, lineOf);
      from = to;
      if (batch.size >= options.batchRows) {
        await startWrite(batch);
        batch = writer.newBatch(options.batchRows);
      }
    }
  };
  /** Write a staged unit as a batch of its own, after the rows batched before it. */
  const batchStaged = async (unit: StagedUnit): Promise<void> => {
    linesSeen += unit.scan.records - unit.scan.blank;
    const base = lineBase;
    lineBase += unit.scan.records;
    if (batch.size > 0) {
      await startWrite(batch);
      batch = writer.newBatch(options.batchRows);
    }
    const own = writer.newBatch(unit.size);
    own.addStaged(unit, (record) => base + record + 1);
    await startWrite(own);
  };
  /** Batch the oldest pending segment or unit. */
  const batchNext = async (): Promise<void> => {
    const next = ahead.shift();
    if (!next) return;
    if ('problem' in next) {
      linesSeen++;
      await run.reject(summary, { source: file, line: ++lineBase, field: '', reason: next.problem, raw: next.head });
    } else if ('parsing' in next) {
      await batchParsed(await next.parsing);
    } else {
      const staged = await next.staging;
      if (staged instanceof StagedUnit) await batchStaged(staged);
      else await batchParsed(staged);
    }
  };
  /** Lines gathered for the engine's next unit. */
  let unit: Buffer[] = [];
  let unitBytes = 0;
  const endUnit = (): void => {
    if (unit.length === 0) return;
    const segments = unit;
    unit = [];
    unitBytes = 0;
    const staging = stage(segments);
    staging.catch(() => undefined); // observed when the unit is batched; avoids an unhandled rejection meanwhile
    ahead.push({ staging });
  };
  const aheadAtMost = options.engineUnitBytes > 0 ? UNITS_AHEAD : SEGMENTS_AHEAD;

  try {
    try {
      for await (const segment of segmentsOf(file, options.maxLineBytes)) {
        if (segment.lines === undefined) {
          endUnit();
          ahead.push(segment);
        } else if (options.engineUnitBytes > 0) {
          const pieces = linesUpTo(segment.lines, options.engineUnitBytes - unitBytes, options.engineUnitBytes);
          pieces.forEach((piece, k) => {
            unit.push(piece);
            unitBytes += piece.length;
            if (k < pieces.length - 1 || unitBytes >= options.engineUnitBytes) endUnit();
          });
        } else {
          ahead.push({ parsing: parse(segment.lines) });
        }
        while (ahead.length > aheadAtMost) await batchNext();
      }
    } finally {
      // Also after a read error: the lines before the damage are kept.
      endUnit();
      while (ahead.length > 0) await batchNext();
    }
  } catch (err) {
    // Only the file's own failure is the file's: any other stops the run, named as what it is.
    if (!(err instanceof FileReadError)) throw err;
    // The good lines before the damage are kept; the file is reported as incomplete.
    summary.error = readErrorMessage(err.cause, file);
  }
  await startWrite(batch);
  await inFlight;
  if (linesSeen === 0 && !summary.error) summary.error = 'file is empty';
}

/** The file could not be read (missing, unreadable, damaged gzip): the file's failure, not the run's. */
class FileReadError extends Error {
  constructor(cause: unknown) {
    super((cause as Error).message, { cause });
    this.name = 'FileReadError';
  }
}

/** The file's segments (line-reader.ts), its own failures told apart from the caller's as FileReadError. */
async function* segmentsOf(file: string, maxLineBytes: number): AsyncGenerator<Segment> {
  let iterator: AsyncIterator<Segment>;
  try {
    iterator = readSegments(await openText(file), maxLineBytes)[Symbol.asyncIterator]();
  } catch (err) {
    throw new FileReadError(err);
  }
  for (;;) {
    let next: IteratorResult<Segment>;
    try {
      next = await iterator.next();
    } catch (err) {
      throw new FileReadError(err);
    }
    if (next.done === true) return;
    yield next.value;
  }
}

/**
 * `lines` (whole lines) cut at line ends into pieces: the first of at most
 * `first` bytes, the others of at most `rest` (a longer line is a piece of
 * its own). Units stay near their size whatever the read chunks are.
 */
export function linesUpTo(lines: Buffer, first: number, rest: number): Buffer[] {
  const pieces: Buffer[] = [];
  let start = 0;
  let room = first;
  while (lines.length - start > room) {
    let end = lines.lastIndexOf(0x0a, start + room - 1);
    if (end < start) end = lines.indexOf(0x0a, start + room);
    if (end === -1 || end === lines.length - 1) break;
    pieces.push(lines.subarray(start, end + 1));
    start = end + 1;
    room = rest;
  }
  pieces.push(start === 0 ? lines : lines.subarray(start));
  return pieces;
}
