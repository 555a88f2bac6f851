/**
 * `inferledger ingest billing`: a billing export (FOCUS or AWS CUR 2.0 CSV,
 * plain or gzip) into billing_line_items as one new billing version. A bad
 * record is rejected with its line and column; the rest of the file is kept.
 */
import { parse, type CsvError } from 'csv-parse';
import { BILLING_COLUMNS, serializeBillingRow, type BillingProvenance } from '../billing/billing-row.js';
import type { BillingFileFormat } from '../billing/file-formats.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { IngestRun, readErrorMessage, WarehouseWriteError, type FileSummary, type RunSummary } from './ingest-run.js';
import { openText } from './line-reader.js';

export interface IngestBillingOptions {
  format: BillingFileFormat;
  poolTagKey: string;
  batchRows: number;
}

export async function ingestBillingFiles(
  warehouse: Warehouse,
  files: readonly string[],
  options: IngestBillingOptions,
): Promise<RunSummary> {
  const run = new IngestRun(warehouse, 'billing', options.format.name);
  // One command is one billing version, so all part files of an export land together.
  const billingVersion = `${run.startedAt.toISOString().slice(0, 23).replace('T', ' ')}000`;
  for (const file of files) {
    const provenance: BillingProvenance = { billingVersion, source: options.format.source, sourceFile: file, poolTagKey: options.poolTagKey };
    await ingestOneFile(warehouse, run, file, provenance, options);
  }
  return run.finish();
}

async function ingestOneFile(
  warehouse: Warehouse,
  run: IngestRun,
  file: string,
  provenance: BillingProvenance,
  options: IngestBillingOptions,
): Promise<void> {
  const summary = run.startFile(file);
  const { format } = options;
  let batch: string[] = [];
  let header: string[] | undefined;
  let nextLine = 1;
  const skipped: { line: number; reason: string; raw: string }[] = [];

  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const body = `${batch.join('\n')}\n`;
    const rows = batch.length;
    batch = [];
    try {
      await warehouse.insertCompact('billing_line_items', BILLING_COLUMNS, body);
    } catch (err) {
      throw new WarehouseWriteError(err);
    }
    summary.accepted += rows;
  };
  const rejectSkipped = async (): Promise<void> => {
    for (const s of skipped.splice(0)) await run.reject(summary, { source: file, line: s.line, field: '', reason: s.reason, raw: s.raw });
  };

  try {
    const parser = (await openText(file)).pipe(
      parse({
        bom: true,
        info: true,
        raw: true,
        relax_column_count: true,
        skip_empty_lines: true,
        skip_records_with_error: true,
        on_skip: (err: CsvError | undefined, raw?: string) => {
          const text = withoutDelimiter(raw ?? '');
          skipped.push({ line: nextLine, reason: `unreadable CSV: ${err?.message ?? 'bad record'}`, raw: text });
          nextLine += countNewlines(text) + 1;
        },
      }),
    );
    for await (const item of parser as AsyncIterable<{ record: string[]; raw: string }>) {
      const { record } = item;
      const raw = withoutDelimiter(item.raw);
      const line = nextLine;
      nextLine += countNewlines(raw) + 1;
      if (skipped.length > 0) await rejectSkipped();
      if (!header) {
        header = record.map((h) => h.trim());
        const missing = format.requiredColumns.filter((c) => !header?.includes(c));
        if (missing.length > 0) {
          summary.error = `not a ${format.name} file: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
          return;
        }
        continue;
      }
      if (record.length !== header.length) {
        await run.reject(summary, {
          source: file, line, field: '',
          reason: `record has ${record.length} fields, the header has ${header.length}`, raw,
        });
        continue;
      }
      const object: Record<string, string> = {};
      header.forEach((name, i) => { object[name] = record[i] as string; });
      const parsed = format.record.safeParse(object);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const field = issue?.path.map(String).join('.') ?? '';
        await run.reject(summary, { source: file, line, field, reason: `${field}: ${issue?.message ?? 'invalid'}`, raw });
        continue;
      }
      batch.push(serializeBillingRow(parsed.data, provenance, line));
      if (batch.length >= options.batchRows) await flush();
    }
    await rejectSkipped();
  } catch (err) {
    if (err instanceof WarehouseWriteError) throw err;
    summary.error = readErrorMessage(err, file);
  }
  await rejectSkipped();
  await flush();
  if (!header && !summary.error) summary.error = 'file is empty';
  noteEmptyBody(summary, header);
}

/** A header with no records read nothing either. */
function noteEmptyBody(summary: FileSummary, header: string[] | undefined): void {
  if (header && !summary.error && summary.accepted + summary.rejected === 0) summary.error = 'file has a header but no records';
}

/** A record's raw text may or may not end with its line break; line counting needs it without. */
function withoutDelimiter(raw: string): string {
  return raw.replace(/\r?\n$|\r$/, '');
}

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
