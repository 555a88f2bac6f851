/**
 * `inferledger ingest billing`: a billing export (FOCUS or AWS CUR 2.0, CSV
 * plain or gzip, or Parquet) into billing_line_items as one new billing version, all or
 * nothing. Every file of the command is read and its lines written under the
 * version; the import is recorded complete (and becomes visible) only when
 * every file was read to its end and no line was bad, or `acceptPartial` says
 * to keep the good lines anyway. Every bad line is listed with line, column
 * and reason.
 */
import { parse, type CsvError } from 'csv-parse';
import { ImportScopes, recordImport } from './billing-imports.js';
import { expandPartFiles } from './part-files.js';
import { BILLING_COLUMNS, serializeBillingRow, type BillingProvenance } from './billing-row.js';
import type { BillingFileFormat } from './file-formats.js';
import { formatScaled, toScaled } from '../util/decimal.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import { IngestRun, readErrorMessage, WarehouseWriteError, type FileSummary, type Reject, type RunSummary } from '../files/ingest-run.js';
import { ingestBillingParquet, isParquet, readsParquet } from './billing-parquet.js';
import { dropStaleStageTables } from './billing-stage-tables.js';
import { openText } from '../files/line-reader.js';

export interface IngestBillingOptions {
  format: BillingFileFormat;
  poolTagKey: string;
  batchRows: number;
  /** Record the import even with bad lines (they stay listed and out of the bill). */
  acceptPartial?: boolean;
  /** Called after each insert of line items (not yet visible), with the file and its lines written so far. */
  onProgress?: (file: string, written: number) => void;
}

/** A bad line, as listed to the user. */
export interface BadLine {
  file: string;
  line: number;
  field: string;
  reason: string;
}

/** Bad lines kept in the summary; all of them are in the rejects files and ingest_rejects. */
export const BAD_LINES_IN_SUMMARY = 1000;

export interface BillingImportSummary extends RunSummary {
  billingVersion: string;
  /** True when the import was recorded complete: billing_current now holds it. */
  recorded: boolean;
  /** Why it was not recorded (nothing of it is visible). */
  notRecordedReason?: string;
  /** Restatement scopes (source, account, billing period) it replaced. */
  scopes: number;
  /** Lines whose file had no billing period columns: the month of their charge period stood in. */
  inferredBillingPeriods: number;
  badLines: BadLine[];
  /** Per file (in files order): the sum of BilledCost per currency over its accepted lines, exact. */
  billedByFile: Record<string, string>[];
}

export async function ingestBillingFiles(
  warehouse: Warehouse,
  files: readonly string[],
  options: IngestBillingOptions,
): Promise<BillingImportSummary> {
  // A killed import leaves its Parquet stage tables behind: drop those nobody can still be using.
  await dropStaleStageTables(warehouse);
  const run = new IngestRun(warehouse, 'billing', options.format.name);
  // One command is one billing version, so all part files of an export land together.
  const billingVersion = `${run.startedAt.toISOString().slice(0, 23).replace('T', ' ')}000`;
  const scopes = new ImportScopes(options.format.source, 'billing-period');
  const state: ImportState = { scopes, inferred: 0, badLines: [], billed: [] };
  for (const { file, error } of expandPartFiles(files)) {
    if (error !== undefined) {
      // Counted as a file that could not be read, so the whole import fails.
      run.startFile(file).error = error;
      state.billed.push(new Map());
      continue;
    }
    const provenance: BillingProvenance = { billingVersion, source: options.format.source, sourceFile: file, poolTagKey: options.poolTagKey, scope: 'billing-period' };
    await ingestOneFile(warehouse, run, file, provenance, options, state);
  }
  const summary = await run.finish();
  const failed = summary.files.filter((f) => f.error !== undefined);
  let notRecordedReason: string | undefined;
  if (failed.length > 0) {
    notRecordedReason = `${failed.map((f) => `${f.file}: ${f.error ?? ''}`).join('; ')}; nothing of this import is used`;
  } else if (summary.rejected > 0 && options.acceptPartial !== true) {
    notRecordedReason = `${summary.rejected} bad line${summary.rejected > 1 ? 's' : ''}; nothing of this import is used (fix them, or pass --accept-partial to keep the good lines)`;
  } else if (summary.accepted === 0) {
    notRecordedReason = 'no billing lines read';
  }
  if (notRecordedReason === undefined) await recordImport(warehouse, scopes, billingVersion, run.runId);
  return {
    ...summary,
    billingVersion,
    recorded: notRecordedReason === undefined,
    ...(notRecordedReason === undefined ? {} : { notRecordedReason }),
    scopes: notRecordedReason === undefined ? scopes.size : 0,
    inferredBillingPeriods: state.inferred,
    badLines: state.badLines,
    billedByFile: state.billed.map(moneyByCurrency),
  };
}

interface ImportState {
  scopes: ImportScopes;
  inferred: number;
  badLines: BadLine[];
  /** Per file: billed cost of its accepted lines, per currency, in units of 1e-12. */
  billed: Map<string, bigint>[];
}

function moneyByCurrency(m: Map<string, bigint>): Record<string, string> {
  return Object.fromEntries([...m].sort(([a], [b]) => a.localeCompare(b)).map(([c, v]) => [c, formatScaled(v)]));
}

async function ingestOneFile(
  warehouse: Warehouse,
  run: IngestRun,
  file: string,
  provenance: BillingProvenance,
  options: IngestBillingOptions,
  state: ImportState,
): Promise<void> {
  const summary = run.startFile(file);
  const reject = async (r: Reject): Promise<void> => {
    if (state.badLines.length < BAD_LINES_IN_SUMMARY) state.badLines.push({ file, line: r.line, field: r.field, reason: r.reason });
    await run.reject(summary, r);
  };
  const { format } = options;
  const billed = new Map<string, bigint>();
  state.billed.push(billed);
  if (readsParquet(format) && (await isParquet(file))) {
    const tally = { scopes: state.scopes, billed, inferred: 0 };
    await ingestBillingParquet(warehouse, file, format, provenance, summary, reject, tally);
    state.inferred += tally.inferred;
    return;
  }
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
    options.onProgress?.(file, summary.accepted);
  };
  const rejectSkipped = async (): Promise<void> => {
    for (const s of skipped.splice(0)) await reject( { source: file, line: s.line, field: '', reason: s.reason, raw: s.raw });
  };

  try {
    const text = await openText(file);
    const parser = text.pipe(
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
    // pipe() does not forward errors: without this a truncated gzip would leave the parser waiting forever.
    text.on('error', (err) => parser.destroy(err));
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
        await reject({
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
        await reject({ source: file, line, field, reason: `${field}: ${issue?.message ?? 'invalid'}`, raw });
        continue;
      }
      batch.push(serializeBillingRow(parsed.data, provenance, line));
      state.scopes.add(parsed.data);
      billed.set(parsed.data.billing_currency, (billed.get(parsed.data.billing_currency) ?? 0n) + toScaled(parsed.data.billed_cost));
      if (parsed.data.billing_period_inferred) state.inferred++;
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
