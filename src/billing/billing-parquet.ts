/**
 * A billing export in Parquet (FOCUS from AWS and Azure, AWS CUR 2.0), read
 * by the engine itself: the file's rows are loaded into a raw table, staged
 * with every row mapped and checked in SQL (sql/billing/stage-*-parquet.sql),
 * the good rows are written by one INSERT ... SELECT, and only the bad rows
 * and per-scope totals come back to JavaScript. The import stays all or
 * nothing: rows are written under the import's version, invisible until it
 * is recorded.
 *
 * The embedded engine reads the file from disk (`file()`); a ClickHouse
 * server cannot read this machine's disk, so the file is streamed to it in
 * the request body (`input()`). Everything after the load is the same SQL.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { z } from 'zod';
import type { ImportScopes } from './billing-imports.js';
import type { BillingProvenance } from './billing-row.js';
import type { BillingFileFormat } from './file-formats.js';
import { toScaled } from '../util/decimal.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { QueryParams, Warehouse } from '../warehouse/warehouse.js';
import { claimStageTable, dropStageTables } from './billing-stage-tables.js';
import type { FileSummary, Reject } from '../files/ingest-run.js';

/** How the Parquet form of a billing format is staged. */
interface ParquetShape {
  /** The columns the staging SQL reads as text, the map columns aside. */
  textColumns: readonly string[];
  /** Columns that are a map, or a JSON object as text (the tags, CUR's product attributes). */
  mapColumns: readonly string[];
  /** The staging statement, under sql/. */
  stageSql: string;
  /** Its parameters that depend on which columns the file has. */
  stageParams: (columns: ReadonlySet<string>) => QueryParams;
}

const PARQUET_SHAPES: Readonly<Record<string, ParquetShape>> = {
  focus: {
    textColumns: [
      'ChargePeriodStart', 'ChargePeriodEnd', 'BillingPeriodStart', 'BillingPeriodEnd', 'ChargeFrequency', 'BilledCost', 'EffectiveCost',
      'ListCost', 'BillingCurrency', 'ConsumedQuantity', 'ConsumedUnit', 'ProviderName', 'BillingAccountId', 'SubAccountId', 'ResourceId',
      'ResourceType', 'x_InstanceType', 'ServiceName', 'ChargeCategory', 'ChargeClass', 'SkuId', 'RegionId',
    ],
    mapColumns: ['Tags'],
    stageSql: 'billing/stage-focus-parquet',
    stageParams: (columns) => ({
      has_billing_period: columns.has('BillingPeriodStart') || columns.has('BillingPeriodEnd') ? 1 : 0,
      has_charge_category: columns.has('ChargeCategory') ? 1 : 0,
    }),
  },
  'aws-cur': {
    textColumns: [
      'line_item_usage_start_date', 'line_item_usage_end_date', 'bill_billing_period_start_date', 'bill_billing_period_end_date',
      'line_item_unblended_cost', 'reservation_effective_cost', 'savings_plan_savings_plan_effective_cost', 'pricing_public_on_demand_cost',
      'line_item_usage_amount', 'line_item_currency_code', 'line_item_line_item_type', 'pricing_unit', 'bill_payer_account_id',
      'line_item_usage_account_id', 'line_item_resource_id', 'product_instance_type', 'line_item_product_code', 'product_region_code', 'product_sku',
    ],
    mapColumns: ['resource_tags', 'product'],
    stageSql: 'billing/stage-cur-parquet',
    stageParams: () => ({}),
  },
};

/** Whether a billing format has a Parquet form this import reads. */
export function readsParquet(format: BillingFileFormat): boolean {
  return format.name in PARQUET_SHAPES;
}

export async function isParquet(path: string): Promise<boolean> {
  if (path.toLowerCase().endsWith('.parquet')) return true;
  const handle = await open(path, 'r').catch(() => undefined);
  if (!handle) return false;
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(4), 0, 4, 0);
    return bytesRead === 4 && buffer.toString('latin1') === 'PAR1';
  } finally {
    await handle.close();
  }
}

export interface ParquetTally {
  scopes: ImportScopes;
  billed: Map<string, bigint>;
  inferred: number;
}

/**
 * A file's footer travels base64-encoded as a query parameter, which a server
 * reads from the URL (capped at 1 MiB by default): larger footers (files of
 * very many row groups) are refused there with a reason.
 */
const MAX_FOOTER_BYTES_TO_SERVER = 700 * 1024;

/** Reading settings: rows numbered in file order, absent columns null, times in UTC. */
const LOAD_SETTINGS = { input_format_parquet_preserve_order: 1, max_threads: 1, input_format_parquet_allow_missing_columns: 1, session_timezone: 'UTC' } as const;

const columnRow = z.object({ name: z.string(), type: z.string() });
const rejectRow = z.object({ line: z.coerce.number(), field: z.string(), reason: z.string(), raw: z.string() });
const totalsRow = z.object({
  account: z.string(), scope_start: z.string(), scope_end: z.string(), currency: z.string(), rows: z.coerce.number(),
  billed: z.string(), effective: z.string(), record_days: z.array(z.string()), inferred: z.coerce.number(),
});

/**
 * Import one Parquet file of `format` into billing_line_items under the
 * import's version. Sets `summary.error` when the file cannot be read as that format.
 */
export async function ingestBillingParquet(
  warehouse: Warehouse,
  file: string,
  format: BillingFileFormat,
  provenance: BillingProvenance,
  summary: FileSummary,
  reject: (r: Reject) => Promise<void>,
  tally: ParquetTally,
): Promise<void> {
  const shape = PARQUET_SHAPES[format.name];
  if (shape === undefined) {
    summary.error = `--format ${format.name} has no Parquet form`;
    return;
  }
  let columns: z.infer<typeof columnRow>[];
  try {
    const footer = await parquetFooter(file);
    if (warehouse.backend === 'server' && footer.length > MAX_FOOTER_BYTES_TO_SERVER) {
      throw new Error(`its footer (${footer.length} bytes) is too large to describe to a ClickHouse server; import the CSV form of the export`);
    }
    columns = await warehouse.query(sqlFile('billing/parquet-columns'), { footer: footer.toString('base64') }, columnRow);
  } catch (err) {
    summary.error = `cannot read ${file} as Parquet: ${firstLine(err)}`;
    return;
  }
  const names = new Set(columns.map((c) => c.name));
  const missing = format.requiredColumns.filter((c) => !names.has(c));
  if (missing.length > 0) {
    summary.error = `not a ${format.name} file: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
    return;
  }
  const typeOf = (name: string): string => columns.find((c) => c.name === name)?.type ?? '';
  // Column names come from the shape's fixed lists, never from the file.
  const structure = [
    ...shape.textColumns.map((c) => `\`${c}\` Nullable(String)`),
    ...shape.mapColumns.map((c) => `\`${c}\` ${typeOf(c).startsWith('Map(') ? 'Map(String, Nullable(String))' : 'Nullable(String)'}`),
  ].join(', ');
  const raw = claimStageTable();
  const staging = claimStageTable();
  try {
    await warehouse.command(sqlFile('billing/create-parquet-raw'), { raw, structure });
    if (warehouse.backend === 'chdb') {
      await warehouse.command(sqlFile('billing/load-parquet-file'), { raw, path: file, structure }, LOAD_SETTINGS);
    } else {
      await warehouse.commandWithBody(sqlFile('billing/load-parquet-body'), { raw, structure }, createReadStream(file), LOAD_SETTINGS);
    }
    await warehouse.command(
      sqlFile(shape.stageSql),
      { staging, raw, pool_tag_key: provenance.poolTagKey, ...shape.stageParams(names) },
      // Values quoted in reasons read as JSON.stringify writes them (the CSV path's), '/' unescaped.
      { session_timezone: 'UTC', output_format_json_escape_forward_slashes: 0 },
    );
    for (const r of await warehouse.query(sqlFile('billing/staged-rejects'), { staging }, rejectRow)) {
      await reject({ source: file, line: r.line, field: r.field, reason: r.reason, raw: r.raw });
    }
    await warehouse.command(sqlFile('billing/insert-staged-lines'), {
      staging, billing_version: provenance.billingVersion, source: provenance.source, source_file: file,
    });
    for (const t of await warehouse.query(sqlFile('billing/staged-totals'), { staging }, totalsRow)) {
      tally.scopes.addTotals({ account: t.account, scopeStart: t.scope_start, scopeEnd: t.scope_end, currency: t.currency, rows: t.rows, billed: t.billed, effective: t.effective, recordDays: t.record_days });
      tally.billed.set(t.currency, (tally.billed.get(t.currency) ?? 0n) + toScaled(t.billed));
      tally.inferred += t.inferred;
      summary.accepted += t.rows;
    }
  } catch (err) {
    summary.error = `cannot import ${file} as ${format.name} Parquet: ${firstLine(err)}`;
  } finally {
    await dropStageTables(warehouse, [raw, staging]);
  }
}

/**
 * The footer of a Parquet file as a Parquet file of its own (magic, file
 * metadata, its length, magic): all the engine needs to describe the columns,
 * and small enough to send to a server as a parameter.
 */
async function parquetFooter(path: string): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const tail = Buffer.alloc(8);
    if (size < 12 || (await handle.read(tail, 0, 8, size - 8)).bytesRead !== 8 || tail.toString('latin1', 4) !== 'PAR1') {
      throw new Error('not a Parquet file (it does not end with a Parquet footer)');
    }
    const length = tail.readUInt32LE(0);
    if (length + 12 > size) throw new Error('not a Parquet file (its footer length is beyond the file)');
    const footer = Buffer.alloc(length + 12);
    footer.write('PAR1', 0, 'latin1');
    const { bytesRead } = await handle.read(footer, 4, length + 8, size - 8 - length);
    if (bytesRead !== length + 8) throw new Error('the file changed while it was read');
    return footer;
  } finally {
    await handle.close();
  }
}

function firstLine(err: unknown): string {
  return ((err as Error).message.split('\n')[0] ?? '').slice(0, 500);
}
