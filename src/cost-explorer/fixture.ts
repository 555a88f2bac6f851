/**
 * Cost lines for the local Cost Explorer endpoint, read from an hourly FOCUS
 * CSV export: the same costs a FOCUS import would load, so the two paths can
 * be compared.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'csv-parse/sync';
import { BILLING_FILE_FORMATS } from '../billing/file-formats.js';
import type { CostLine } from './local-endpoint.js';

/** FOCUS units as Cost Explorer spells them. */
const UNIT: Readonly<Record<string, string>> = { Hours: 'Hrs', Hour: 'Hrs' };

export function costLinesFromFocus(file: string): CostLine[] {
  const focus = BILLING_FILE_FORMATS['focus'];
  if (!focus) throw new Error('the focus format is missing');
  const [header, ...records] = parse(readFileSync(file, 'utf8'), { bom: true });
  if (!header) return [];
  return records.map((record, i) => {
    const parsed = focus.record.safeParse(Object.fromEntries(header.map((h, j) => [h, record[j] ?? ''])));
    if (!parsed.success) throw new Error(`${file} record ${i + 2}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const row = parsed.data;
    return {
      start: Date.parse(`${row.charge_period_start.replace(' ', 'T')}Z`),
      account: row.billing_account_id,
      instanceType: row.instance_type,
      service: row.service_name,
      region: row.region,
      tags: row.tags,
      amortized: row.effective_cost,
      unblended: row.billed_cost,
      usageQuantity: row.consumed_quantity,
      usageUnit: UNIT[row.consumed_unit] ?? row.consumed_unit,
      estimated: false,
    };
  });
}
