/**
 * `inferledger ingest requests`: NDJSON request events (plain or gzip) into
 * inference_requests, streamed so memory stays flat whatever the file size.
 * Every line ends accepted, duplicate or rejected (with line, field, reason).
 */
import { basename } from 'node:path';
import { formatDateTime64 } from '../events/request-event.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { IngestRun, readErrorMessage, WarehouseWriteError, type RunSummary } from './ingest-run.js';
import { openText, readSegments } from './line-reader.js';
import type { ParsedRecords } from '../events/parse-records.js';
import { ParserFailure, ParserPool } from '../events/parser-pool.js';
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
}

/** Segments parsed ahead of the one being batched: keeps the parser threads busy, bounds memory (~1 MB each). */
const SEGMENTS_AHEAD = 4;

export async function ingestRequestFiles(
  warehouse: Warehouse,
  files: readonly string[],
  options: IngestRequestsOptions,
): Promise<RunSummary> {
  const run = new IngestRun(warehouse, 'requests', 'ndjson');
  // One writer for the whole run, so duplicates across its files are found in memory too.
  const writer = new RequestBatchWriter(warehouse, options.duplicateHorizonHours === undefined ? {} : { horizonHours: options.duplicateHorizonHours });
  const parsers = new ParserPool(options.parserThreads);
  try {
    for (const file of files) await ingestOneFile(writer, parsers, run, file, options);
  } finally {
    await parsers.close();
  }
  return run.finish();
}

/** A segment on its way through a parser thread, or a line the reader already refused. */
type Pending = { parsing: Promise<ParsedRecords> } | { problem: string; head: string };

async function ingestOneFile(writer: RequestBatchWriter, parsers: ParserPool, run: IngestRun, file: string, options: IngestRequestsOptions): Promise<void> {
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
  /** Batch the oldest pending segment: its rows into batches, its rejects numbered and recorded. */
  const batchNext = async (): Promise<void> => {
    const next = ahead.shift();
    if (!next) return;
    if (!('parsing' in next)) {
      linesSeen++;
      await run.reject(summary, { source: file, line: ++lineBase, field: '', reason: next.problem, raw: next.head });
      return;
    }
    const parsed = await next.parsing;
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

  try {
    try {
      const input = await openText(file);
      for await (const segment of readSegments(input, options.maxLineBytes)) {
        ahead.push(segment.lines === undefined
          ? segment
          : { parsing: parsers.parse({ mode: 'lines', bytes: segment.lines, maxRecordBytes: options.maxLineBytes, source, ingestedAt }) });
        if (ahead.length > SEGMENTS_AHEAD) await batchNext();
      }
    } finally {
      // Also after a read error: the lines before the damage are kept.
      while (ahead.length > 0) await batchNext();
    }
  } catch (err) {
    if (err instanceof WarehouseWriteError || err instanceof ParserFailure) throw err;
    // The good lines before the damage are kept; the file is reported as incomplete.
    summary.error = readErrorMessage(err, file);
  }
  await startWrite(batch);
  await inFlight;
  if (linesSeen === 0 && !summary.error) summary.error = 'file is empty';
}
