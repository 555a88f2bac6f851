/**
 * `inferledger ingest requests`: NDJSON request events (plain or gzip) into
 * inference_requests, streamed so memory stays flat whatever the file size.
 * Every line ends accepted, duplicate or rejected (with line, field, reason).
 */
import { basename } from 'node:path';
import { formatDateTime64, serializeRequestRow, validateRequestEvent } from '../events/request-event.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { IngestRun, readErrorMessage, WarehouseWriteError, type RunSummary } from './ingest-run.js';
import { openText, readLines } from './line-reader.js';
import { RequestBatchWriter, type RequestBatch } from './request-batch-writer.js';

export interface IngestRequestsOptions {
  /** Rows per insert. */
  batchRows: number;
  /** Longer lines are rejected unread. */
  maxLineBytes: number;
}

export async function ingestRequestFiles(
  warehouse: Warehouse,
  files: readonly string[],
  options: IngestRequestsOptions,
): Promise<RunSummary> {
  const run = new IngestRun(warehouse, 'requests', 'ndjson');
  // One writer for the whole run, so duplicates across its files are found in memory too.
  const writer = new RequestBatchWriter(warehouse);
  for (const file of files) await ingestOneFile(writer, run, file, options);
  return run.finish();
}

async function ingestOneFile(writer: RequestBatchWriter, run: IngestRun, file: string, options: IngestRequestsOptions): Promise<void> {
  const summary = run.startFile(file);
  const source = `file:${basename(file)}`;
  const ingestedAt = formatDateTime64(Date.now());
  let batch = writer.newBatch();
  let linesSeen = 0;
  // One batch inserts while the next one is parsed; never more, so memory stays bounded.
  let inFlight: Promise<void> = Promise.resolve();

  const write = async (rows: RequestBatch): Promise<void> => {
    try {
      const result = await writer.write(rows);
      summary.accepted += result.written;
      summary.duplicates += result.duplicates;
    } catch (err) {
      throw new WarehouseWriteError(err);
    }
  };
  const startWrite = async (rows: RequestBatch): Promise<void> => {
    await inFlight;
    inFlight = write(rows);
    inFlight.catch(() => undefined); // observed by the next await; avoids an unhandled rejection meanwhile
  };

  try {
    const input = await openText(file);
    for await (const lines of readLines(input, options.maxLineBytes)) {
      for (const line of lines) {
        linesSeen++;
        if (line.text === undefined) {
          await run.reject(summary, { source: file, line: line.lineNo, field: '', reason: line.problem, raw: line.head });
          continue;
        }
        let value: unknown;
        try {
          value = JSON.parse(line.text);
        } catch (err) {
          await run.reject(summary, { source: file, line: line.lineNo, field: '', reason: `malformed JSON: ${(err as Error).message}`, raw: line.text });
          continue;
        }
        const outcome = validateRequestEvent(value);
        if (!outcome.ok) {
          await run.reject(summary, { source: file, line: line.lineNo, field: outcome.field, reason: outcome.reason, raw: line.text });
          continue;
        }
        const { event } = outcome;
        batch.add(event.request_id, event.ts, serializeRequestRow(event, outcome.attributes, source, ingestedAt));
        if (batch.size >= options.batchRows) {
          await startWrite(batch);
          batch = writer.newBatch();
        }
      }
    }
  } catch (err) {
    if (err instanceof WarehouseWriteError) throw err;
    // The good lines before the damage are kept; the file is reported as incomplete.
    summary.error = readErrorMessage(err, file);
  }
  await startWrite(batch);
  await inFlight;
  if (linesSeen === 0 && !summary.error) summary.error = 'file is empty';
}
