/**
 * Raw data for attribution tests, written through the same code paths as
 * ingestion (request batch writer, billing row serialiser).
 */
import { ImportScopes, recordImport } from '../../src/billing/billing-imports.js';
import { BILLING_COLUMNS, serializeBillingRow, type BillingRow } from '../../src/billing/billing-row.js';
import { formatDateTime64 } from '../../src/events/request-event.js';
import { parseRecords } from '../../src/events/parse-records.js';
import { RequestBatchWriter } from '../../src/request-writer/request-batch-writer.js';
import type { Warehouse } from '../../src/warehouse/warehouse.js';

export const HOUR = 3_600_000;
export const DAY0 = Date.UTC(2026, 9, 1);

export function iso(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** A billing line for one pool-hour, with overrides. */
export function billingLine(overrides: Partial<BillingRow> & { pool?: string; start?: number; hours?: number } = {}): BillingRow {
  const { pool = 'gpu-a', start = DAY0, hours = 1, ...rest } = overrides;
  const month = new Date(start);
  const periodStart = Date.UTC(month.getUTCFullYear(), month.getUTCMonth(), 1);
  const periodEnd = Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1);
  return {
    billing_period_start: iso(periodStart), billing_period_end: iso(periodEnd), billing_period_inferred: false, charge_frequency: 'Usage-Based',
    provider: 'AWS', billing_account_id: '111', sub_account_id: '222',
    charge_period_start: iso(start), charge_period_end: iso(start + hours * HOUR),
    billed_cost: '10', effective_cost: '10', list_cost: '10', billing_currency: 'USD',
    consumed_quantity: String(hours), consumed_unit: 'Hours', resource_id: 'i-1', resource_type: 'Instance',
    instance_type: 'g6.xlarge', service_name: 'EC2', charge_category: 'Usage', charge_class: '', sku_id: '', region: 'us-east-1',
    tags: pool === '' ? {} : { 'inference-pool': pool },
    is_estimated: false,
    ...rest,
  };
}

let versionClock = Date.UTC(2026, 10, 1);

/** Insert billing lines as one new billing version and record it complete (like one import). */
export async function insertBilling(warehouse: Warehouse, lines: readonly BillingRow[], source = 'focus-file'): Promise<string> {
  versionClock += 1000;
  const scope = source === 'aws-cost-explorer' ? 'day' : 'billing-period';
  const provenance = { billingVersion: `${formatDateTime64(versionClock)}000`, source, sourceFile: 'test', poolTagKey: 'inference-pool', scope } as const;
  const body = lines.map((l, i) => serializeBillingRow(l, provenance, i + 1)).join('\n');
  await warehouse.insertCompact('billing_line_items', BILLING_COLUMNS, `${body}\n`);
  const scopes = new ImportScopes(source, scope);
  for (const l of lines) scopes.add(l);
  await recordImport(warehouse, scopes, provenance.billingVersion, 'test');
  return provenance.billingVersion;
}

export interface TestRequest {
  id: string;
  ts: number;
  pool?: string;
  model?: string;
  version?: string;
  feature?: string;
  tenant?: string;
  team?: string;
  gpuMs?: number;
  input?: number;
  output?: number;
}

/** Insert request events through the request batch writer (validation included). */
export async function insertRequests(warehouse: Warehouse, requests: readonly TestRequest[]): Promise<void> {
  const writer = new RequestBatchWriter(warehouse);
  const batch = writer.newBatch();
  const lines = requests.map((r) => JSON.stringify({
    request_id: r.id, ts: r.ts, pool_id: r.pool ?? 'gpu-a', model_id: r.model ?? 'm1', model_version: r.version,
    feature_id: r.feature ?? 'f1', tenant_id: r.tenant ?? 't1', team: r.team, gpu_ms: r.gpuMs ?? 100,
    input_tokens: r.input ?? 0, output_tokens: r.output ?? 0,
  }));
  // In this thread: the same parser the parser threads run.
  const parsed = parseRecords({ mode: 'lines', bytes: Buffer.from(lines.join('\n')), maxRecordBytes: 1 << 20, source: 'test', ingestedAt: formatDateTime64(Date.now()) });
  const [bad] = parsed.rejects;
  if (bad) throw new Error(`bad test request ${requests[bad.record]?.id}: ${bad.reason}`);
  batch.addRows(parsed);
  await writer.write(batch);
}
