/**
 * A FOCUS export in Parquet (how AWS and Azure deliver it), read by the engine
 * itself: the file is staged with every row mapped and checked in SQL
 * (sql/billing/stage-focus-parquet.sql), the good rows are written by one
 * INSERT ... SELECT, and only the bad rows and per-scope totals come back to
 * JavaScript. The import stays all or nothing: rows are written under the
 * import's version, invisible until it is recorded.
 */
import { randomUUID } from 'node:crypto';
import { open } from 'node:fs/promises';
import { z } from 'zod';
import type { ImportScopes } from '../billing/billing-imports.js';
import type { BillingProvenance } from '../billing/billing-row.js';
import { toScaled } from '../util/decimal.js';
import { sqlFile } from '../warehouse/sql-files.js';
import type { Warehouse } from '../warehouse/warehouse.js';
import type { FileSummary, Reject } from './ingest-run.js';

/** The FOCUS columns the staging SQL reads (Tags aside), each as text. */
const TEXT_COLUMNS = [
  'ChargePeriodStart', 'ChargePeriodEnd', 'BillingPeriodStart', 'BillingPeriodEnd', 'ChargeFrequency', 'BilledCost', 'EffectiveCost',
  'ListCost', 'BillingCurrency', 'ConsumedQuantity', 'ConsumedUnit', 'ProviderName', 'BillingAccountId', 'SubAccountId', 'ResourceId',
  'ResourceType', 'x_InstanceType', 'ServiceName', 'ChargeCategory', 'ChargeClass', 'SkuId', 'RegionId',
] as const;

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

const columnRow = z.object({ name: z.string(), type: z.string() });
const rejectRow = z.object({ line: z.coerce.number(), field: z.string(), reason: z.string(), raw: z.string() });
const totalsRow = z.object({
  account: z.string(), scope_start: z.string(), scope_end: z.string(), currency: z.string(), rows: z.coerce.number(),
  billed: z.string(), effective: z.string(), record_days: z.array(z.string()), inferred: z.coerce.number(),
});

/**
 * Import one FOCUS Parquet file into billing_line_items under the import's
 * version. Sets `summary.error` when the file cannot be read as FOCUS.
 */
export async function ingestFocusParquet(
  warehouse: Warehouse,
  file: string,
  provenance: BillingProvenance,
  requiredColumns: readonly string[],
  summary: FileSummary,
  reject: (r: Reject) => Promise<void>,
  tally: ParquetTally,
): Promise<void> {
  if (warehouse.backend !== 'chdb') {
    // file() would read the server's disk, not ours.
    summary.error = 'Parquet is read by the embedded warehouse only: with a ClickHouse server, import the CSV form of the export';
    return;
  }
  let columns: z.infer<typeof columnRow>[];
  try {
    columns = await warehouse.query(sqlFile('billing/parquet-columns'), { path: file }, columnRow);
  } catch (err) {
    summary.error = `cannot read ${file} as Parquet: ${firstLine(err)}`;
    return;
  }
  const names = new Set(columns.map((c) => c.name));
  const missing = requiredColumns.filter((c) => !names.has(c));
  if (missing.length > 0) {
    summary.error = `not a focus file: missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`;
    return;
  }
  const tagsType = columns.find((c) => c.name === 'Tags')?.type ?? '';
  const structure = [
    ...TEXT_COLUMNS.map((c) => `\`${c}\` Nullable(String)`),
    `Tags ${tagsType.startsWith('Map(') ? 'Map(String, Nullable(String))' : 'Nullable(String)'}`,
  ].join(', ');
  const staging = `billing_parquet_stage_${randomUUID().replaceAll('-', '')}`;
  try {
    await warehouse.command(
      sqlFile('billing/stage-focus-parquet'),
      {
        staging, path: file, structure, pool_tag_key: provenance.poolTagKey,
        has_billing_period: names.has('BillingPeriodStart') || names.has('BillingPeriodEnd') ? 1 : 0,
        has_charge_category: names.has('ChargeCategory') ? 1 : 0,
      },
      // Row numbers follow the file's order.
      { input_format_parquet_preserve_order: 1, max_threads: 1, input_format_parquet_allow_missing_columns: 1, session_timezone: 'UTC' },
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
    summary.error = `cannot import ${file} as FOCUS Parquet: ${firstLine(err)}`;
  } finally {
    await warehouse.command('DROP TABLE IF EXISTS {t:Identifier}', { t: staging });
  }
}

function firstLine(err: unknown): string {
  return ((err as Error).message.split('\n')[0] ?? '').slice(0, 500);
}
